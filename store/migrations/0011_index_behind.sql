-- The full-text index runs behind ingest: a message's words wait in fts_pending, committed with
-- the message itself, until the writer indexes a few hundred at once (see indexer.go). One FTS5
-- segment for each commit of a few messages, and the merging of all those segments, cost about
-- a third of ingest; a segment for hundreds costs a fraction of that. Searches read both: the
-- index, and the pending rows through letterbox_match, which matches them as FTS5 would. Every
-- snapshot holds each message in exactly one of the two.
CREATE TABLE fts_pending (
	uid         INTEGER PRIMARY KEY,
	subject     TEXT NOT NULL,
	sender      TEXT NOT NULL,
	recipients  TEXT NOT NULL,
	message_id  TEXT NOT NULL,
	headers     TEXT NOT NULL,
	body        TEXT NOT NULL,
	attachments TEXT NOT NULL
);
DROP TRIGGER messages_del;
CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN
	UPDATE counters SET total = total - 1, unread = unread - (OLD.read = 0), size = size - OLD.size;
	DELETE FROM fts WHERE rowid = OLD.uid;
	DELETE FROM fts_pending WHERE uid = OLD.uid;
END;
