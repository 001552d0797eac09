-- SMTP sessions: one row per connection, whether it stored mail or not (probes, refusals, failed
-- TLS handshakes, silent connections). The row is made in the transaction of the session's first
-- message (with the transcript so far; each later message adds its lines) or when it ends, and
-- is completed when it ends; kept to Options.MaxSessions rows (oldest pruned) and by MaxAge.
CREATE TABLE sessions (
	uid            INTEGER PRIMARY KEY AUTOINCREMENT,
	id             TEXT    NOT NULL UNIQUE,
	started        INTEGER NOT NULL,            -- unix microseconds
	ended          INTEGER NOT NULL DEFAULT 0,  -- 0 while in progress
	remote_addr    TEXT    NOT NULL,            -- host:port
	remote_ip      TEXT    NOT NULL,            -- host, for the filter
	helo           TEXT    NOT NULL DEFAULT '',
	tls_version    TEXT    NOT NULL DEFAULT '',
	tls_cipher     TEXT    NOT NULL DEFAULT '',
	auth_mechanism TEXT    NOT NULL DEFAULT '',
	auth_username  TEXT    NOT NULL DEFAULT '',
	outcome        TEXT    NOT NULL DEFAULT '',
	error          TEXT    NOT NULL DEFAULT '',
	messages       INTEGER NOT NULL DEFAULT 0,  -- messages stored in it, once it ended (before: counted)
	faults         TEXT    NOT NULL DEFAULT '[]' -- JSON array of the faults injected
);
CREATE INDEX sessions_remote_ip ON sessions(remote_ip);
CREATE INDEX sessions_started ON sessions(started);

-- The transcript, appended a chunk at a time (the lines since the last write): each line is
-- "milliseconds TAB direction TAB text", lines separated by LF.
CREATE TABLE session_lines (
	session INTEGER NOT NULL REFERENCES sessions(uid) ON DELETE CASCADE,
	first   INTEGER NOT NULL,  -- the transcript index of the chunk's first line
	chunk   TEXT    NOT NULL,
	PRIMARY KEY (session, first)
) WITHOUT ROWID;

-- How many sessions there are, so that pruning never counts the table.
CREATE TABLE session_count (
	one INTEGER PRIMARY KEY CHECK (one = 1),
	n   INTEGER NOT NULL
);
INSERT INTO session_count VALUES (1, 0);
CREATE TRIGGER sessions_ins AFTER INSERT ON sessions BEGIN UPDATE session_count SET n = n + 1; END;
CREATE TRIGGER sessions_del AFTER DELETE ON sessions BEGIN UPDATE session_count SET n = n - 1; END;

-- The session each message came in.
ALTER TABLE messages ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
CREATE INDEX messages_session ON messages(session_id) WHERE session_id != '';
