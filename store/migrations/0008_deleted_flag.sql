-- IMAP's \Deleted flag, in the database rather than in one IMAP server's memory: every session
-- of every process sees it, EXPUNGE deletes what any of them flagged, and it survives a restart
-- (RFC 3501 lists it among the PERMANENTFLAGS). Few messages carry it: EXPUNGE finds them in
-- the partial index.
ALTER TABLE messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX messages_deleted ON messages(uid) WHERE deleted = 1;
