-- SMTP sessions (as on SQLite, store's 0007_sessions.sql): one row per connection, whether it
-- stored mail or not. The row is made in the transaction of the session's first message (with the
-- transcript so far; each later message adds its lines) or when it ends, and is completed when it
-- ends; kept to Options.MaxSessions rows (oldest pruned, under the counters row lock every writer
-- takes first, so processes never prune twice) and by MaxAge.
CREATE TABLE sessions (
	uid            bigserial PRIMARY KEY,
	id             text   NOT NULL UNIQUE,
	started        bigint NOT NULL,            -- unix microseconds
	ended          bigint NOT NULL DEFAULT 0,  -- 0 while in progress
	remote_addr    text   NOT NULL,            -- host:port
	remote_ip      text   NOT NULL,            -- host, for the filter
	helo           text   NOT NULL DEFAULT '',
	tls_version    text   NOT NULL DEFAULT '',
	tls_cipher     text   NOT NULL DEFAULT '',
	auth_mechanism text   NOT NULL DEFAULT '',
	auth_username  text   NOT NULL DEFAULT '',
	outcome        text   NOT NULL DEFAULT '',
	error          text   NOT NULL DEFAULT '',
	messages       int    NOT NULL DEFAULT 0,  -- messages stored in it, once it ended (before: counted)
	faults         text   NOT NULL DEFAULT '[]' -- JSON array of the faults injected
);
CREATE INDEX sessions_remote_ip ON sessions (remote_ip);
CREATE INDEX sessions_started ON sessions (started);

-- The transcript, a chunk at a time (the lines since the last write): each line is
-- "milliseconds TAB direction TAB text", lines separated by LF.
CREATE TABLE session_lines (
	session bigint NOT NULL REFERENCES sessions (uid) ON DELETE CASCADE,
	first   int    NOT NULL,  -- the transcript index of the chunk's first line
	chunk   text   NOT NULL,
	PRIMARY KEY (session, first)
);

-- How many sessions there are, so that pruning never counts the table: kept by triggers, in the
-- counters row (which every writer has locked already).
ALTER TABLE counters ADD COLUMN sessions bigint NOT NULL DEFAULT 0;
CREATE FUNCTION sessions_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		UPDATE counters SET sessions = sessions + (SELECT count(*) FROM added);
	ELSE
		UPDATE counters SET sessions = sessions - (SELECT count(*) FROM removed);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER sessions_added AFTER INSERT ON sessions REFERENCING NEW TABLE AS added
	FOR EACH STATEMENT EXECUTE FUNCTION sessions_counted();
CREATE TRIGGER sessions_removed AFTER DELETE ON sessions REFERENCING OLD TABLE AS removed
	FOR EACH STATEMENT EXECUTE FUNCTION sessions_counted();

-- The session each message came in.
ALTER TABLE messages ADD COLUMN session_id text NOT NULL DEFAULT '';
CREATE INDEX messages_session ON messages (session_id) WHERE session_id <> '';
