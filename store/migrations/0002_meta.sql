-- Per-database facts: the IMAP UIDVALIDITY is chosen once, when the database is created or upgraded.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('uidvalidity', CAST(unixepoch() AS TEXT));
