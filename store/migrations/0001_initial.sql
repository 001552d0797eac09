-- Messages: one row each, the columns a list needs. uid is never reused (AUTOINCREMENT).
CREATE TABLE messages (
	uid          INTEGER PRIMARY KEY AUTOINCREMENT,
	id           TEXT    NOT NULL UNIQUE,
	created      INTEGER NOT NULL,            -- unix microseconds
	date         INTEGER NOT NULL DEFAULT 0,  -- Date header, unix microseconds, 0 if none
	read         INTEGER NOT NULL DEFAULT 0,
	size         INTEGER NOT NULL,
	message_id   TEXT    NOT NULL DEFAULT '',
	subject      TEXT    NOT NULL DEFAULT '',
	from_json    TEXT    NOT NULL DEFAULT '{}',
	to_json      TEXT    NOT NULL DEFAULT '[]',
	cc_json      TEXT    NOT NULL DEFAULT '[]',
	bcc_json     TEXT    NOT NULL DEFAULT '[]',
	reply_to_json TEXT   NOT NULL DEFAULT '[]',
	username     TEXT    NOT NULL DEFAULT '',
	attachments  INTEGER NOT NULL DEFAULT 0,
	inlines      INTEGER NOT NULL DEFAULT 0,
	snippet      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX messages_created ON messages(created);
CREATE INDEX messages_unread ON messages(read) WHERE read = 0;

-- The body of each message: what opening it needs and its raw bytes, compressed together (the
-- text and HTML are mostly copies of parts of the raw message).
CREATE TABLE contents (
	uid       INTEGER PRIMARY KEY REFERENCES messages(uid) ON DELETE CASCADE,
	content   BLOB    NOT NULL,  -- zstd of: JSON of what opening it needs (envelope, headers, text, HTML,
	                             -- parts, structure, errors), then the raw message as stored
	body_size INTEGER NOT NULL   -- bytes of that JSON
);

-- Decoded attachment and inline content, so downloads never re-parse.
CREATE TABLE parts (
	uid      INTEGER NOT NULL REFERENCES messages(uid) ON DELETE CASCADE,
	part_id  TEXT    NOT NULL,
	content  BLOB    NOT NULL,                -- zstd-compressed
	PRIMARY KEY (uid, part_id)
) WITHOUT ROWID;

-- Every address a message was sent to (envelope, To, Cc, Bcc), lower case: per-recipient mailboxes.
CREATE TABLE recipients (
	addr TEXT    NOT NULL,
	uid  INTEGER NOT NULL REFERENCES messages(uid) ON DELETE CASCADE,
	PRIMARY KEY (addr, uid)
) WITHOUT ROWID;
CREATE INDEX recipients_uid ON recipients(uid);

CREATE TABLE tags (
	tag TEXT    NOT NULL,
	uid INTEGER NOT NULL REFERENCES messages(uid) ON DELETE CASCADE,
	PRIMARY KEY (tag, uid)
) WITHOUT ROWID;
CREATE INDEX tags_uid ON tags(uid);

-- Full-text index, rowid = messages.uid. Contentless: text lives in messages/contents.
CREATE VIRTUAL TABLE fts USING fts5(
	subject, sender, recipients, message_id, headers, body, attachments,
	content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
);
-- Every commit adds one small segment to the index. Merging them 16 at a time (rather than 4)
-- rewrites each entry fewer times (fewer levels) for a few more segments to search.
INSERT INTO fts (fts, rank) VALUES ('automerge', 16);

-- Store-wide counters, so a list never counts the whole table. The writer adds each batch of new
-- messages (one update per batch, not one per message); triggers keep them right on changes.
CREATE TABLE counters (
	one    INTEGER PRIMARY KEY CHECK (one = 1),
	total  INTEGER NOT NULL,
	unread INTEGER NOT NULL,
	size   INTEGER NOT NULL
);
INSERT INTO counters VALUES (1, 0, 0, 0);
CREATE TRIGGER messages_del AFTER DELETE ON messages BEGIN
	UPDATE counters SET total = total - 1, unread = unread - (OLD.read = 0), size = size - OLD.size;
	DELETE FROM fts WHERE rowid = OLD.uid;
END;
CREATE TRIGGER messages_read AFTER UPDATE OF read ON messages WHEN OLD.read != NEW.read BEGIN
	UPDATE counters SET unread = unread + (NEW.read = 0) - (OLD.read = 0);
END;
