-- Transcript chunks in the order they are written, not clustered by session: every message of a
-- long-lived connection adds a chunk, and with the chunks kept in (session, first) order each
-- of the connections open at once grew the table at its own place, so a commit of a few
-- messages rewrote (and split) a page for each connection, about a quarter of the log written
-- under load. Appended, a commit's chunks share the table's last page or two; the small
-- (session, first) index finds a session's transcript and takes its deletes.
CREATE TABLE session_lines_appended (
	id      INTEGER PRIMARY KEY,
	session INTEGER NOT NULL REFERENCES sessions(uid) ON DELETE CASCADE,
	first   INTEGER NOT NULL,  -- the transcript index of the chunk's first line
	chunk   TEXT    NOT NULL,
	UNIQUE (session, first)
);
INSERT INTO session_lines_appended (session, first, chunk)
	SELECT session, first, chunk FROM session_lines ORDER BY session, first;
DROP TABLE session_lines;
ALTER TABLE session_lines_appended RENAME TO session_lines;
