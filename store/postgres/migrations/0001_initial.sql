-- letterbox on PostgreSQL: the same model as the SQLite engine. Times are unix microseconds.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Per-database facts: the IMAP UIDVALIDITY, chosen once.
CREATE TABLE meta (
	key   text PRIMARY KEY,
	value text NOT NULL
);
INSERT INTO meta (key, value) VALUES ('uidvalidity', (extract(epoch FROM now())::bigint % 4294967295)::text);

-- Store-wide counters, one row. Every write transaction locks it first: UIDs are given in commit
-- order across processes (strictly increasing as readers see them), and writers never deadlock.
CREATE TABLE counters (
	one      int    PRIMARY KEY CHECK (one = 1),
	last_uid bigint NOT NULL,
	total    bigint NOT NULL,
	unread   bigint NOT NULL,
	size     bigint NOT NULL
);
INSERT INTO counters VALUES (1, 0, 0, 0, 0);

CREATE TABLE messages (
	uid           bigint  PRIMARY KEY,
	id            text    NOT NULL UNIQUE,
	created       bigint  NOT NULL,
	date          bigint  NOT NULL DEFAULT 0,
	read          boolean NOT NULL DEFAULT false,
	size          bigint  NOT NULL,
	message_id    text    NOT NULL DEFAULT '',
	subject       text    NOT NULL DEFAULT '',
	from_json     text    NOT NULL DEFAULT '{}',
	to_json       text    NOT NULL DEFAULT '[]',
	cc_json       text    NOT NULL DEFAULT '[]',
	bcc_json      text    NOT NULL DEFAULT '[]',
	reply_to_json text    NOT NULL DEFAULT '[]',
	username      text    NOT NULL DEFAULT '',
	attachments   int     NOT NULL DEFAULT 0,
	inlines       int     NOT NULL DEFAULT 0,
	snippet       text    NOT NULL DEFAULT ''
);
CREATE INDEX messages_created ON messages (created);
CREATE INDEX messages_unread ON messages (uid) WHERE NOT read;

-- What opening a message needs and its raw bytes, zstd-compressed together (as on SQLite).
CREATE TABLE contents (
	uid       bigint PRIMARY KEY REFERENCES messages (uid) ON DELETE CASCADE,
	content   bytea  NOT NULL,
	body_size int    NOT NULL
);
ALTER TABLE contents ALTER COLUMN content SET STORAGE EXTERNAL; -- compressed already

CREATE TABLE parts (
	uid     bigint NOT NULL REFERENCES messages (uid) ON DELETE CASCADE,
	part_id text   NOT NULL,
	content bytea  NOT NULL,
	PRIMARY KEY (uid, part_id)
);
ALTER TABLE parts ALTER COLUMN content SET STORAGE EXTERNAL;

CREATE TABLE recipients (
	addr text   NOT NULL,
	uid  bigint NOT NULL REFERENCES messages (uid) ON DELETE CASCADE,
	PRIMARY KEY (addr, uid)
);
CREATE INDEX recipients_uid ON recipients (uid);

CREATE TABLE tags (
	tag text   NOT NULL,
	uid bigint NOT NULL REFERENCES messages (uid) ON DELETE CASCADE,
	PRIMARY KEY (tag, uid)
);
CREATE INDEX tags_uid ON tags (uid);
CREATE INDEX tags_lower ON tags (lower(tag));

-- The full-text index: one tsvector a message whose lexemes are the words of each field,
-- prefixed by the field ("s.spring" in the subject, "b.spring" in a body), with positions, so a
-- term restricted to fields and a phrase are both one GIN lookup.
CREATE TABLE search (
	uid   bigint   PRIMARY KEY REFERENCES messages (uid) ON DELETE CASCADE,
	words tsvector NOT NULL
);
CREATE INDEX search_words ON search USING gin (words);

-- The vocabulary: each distinct word (3 to 32 letters, no digits) with a trigram index, so a term
-- found inside words ("ringtim" in "springtime") is looked up here, then in search.words.
CREATE TABLE terms (
	term text PRIMARY KEY
);
CREATE INDEX terms_trgm ON terms USING gin (term gin_trgm_ops);
