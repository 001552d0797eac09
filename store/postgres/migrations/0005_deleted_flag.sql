-- IMAP's \Deleted flag (as on SQLite, store's 0008_deleted_flag.sql): in the database, so that
-- the IMAP sessions of every process see it and EXPUNGE deletes what any of them flagged.
ALTER TABLE messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
CREATE INDEX messages_deleted ON messages (uid) WHERE deleted;
