-- Relaying to a real SMTP server (as on SQLite, store's 0006_relay_queue.sql): one row per attempt
-- to hand a message to the relay. Auto-relay queues rows in the transaction that stores the
-- message. queued -> sending (claimed until due) -> sent or failed, or queued again for a retry.
CREATE TABLE relay_jobs (
	job        bigserial PRIMARY KEY,
	uid        bigint NOT NULL REFERENCES messages (uid) ON DELETE CASCADE,
	kind       text   NOT NULL,
	recipients text   NOT NULL,            -- JSON array of addresses
	state      text   NOT NULL,            -- queued, sending, sent, failed
	attempts   int    NOT NULL DEFAULT 0,
	due        bigint NOT NULL,            -- unix microseconds: next try (queued), lease end (sending)
	created    bigint NOT NULL,
	updated    bigint NOT NULL,
	reply      text   NOT NULL DEFAULT ''
);
CREATE INDEX relay_jobs_due ON relay_jobs (due, job) WHERE state IN ('queued', 'sending');
CREATE INDEX relay_jobs_uid ON relay_jobs (uid);
