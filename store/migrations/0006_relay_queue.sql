-- Relaying to a real SMTP server: one row per attempt to hand a message to the relay, kept as the
-- message's relay history. Auto-relay queues rows in the transaction that stores the message, so
-- a restart or a relay that is down loses nothing; releases from the API are recorded after the
-- fact. A row goes queued -> sending (claimed, until its lease at due ends) -> sent or failed, or
-- back to queued with a later due for a retry. It goes with its message.
CREATE TABLE relay_jobs (
	job        INTEGER PRIMARY KEY AUTOINCREMENT,
	uid        INTEGER NOT NULL REFERENCES messages(uid) ON DELETE CASCADE,
	kind       TEXT    NOT NULL,             -- auto, release
	recipients TEXT    NOT NULL,             -- JSON array of addresses
	state      TEXT    NOT NULL,             -- queued, sending, sent, failed
	attempts   INTEGER NOT NULL DEFAULT 0,
	due        INTEGER NOT NULL,             -- unix microseconds: next try (queued), lease end (sending)
	created    INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	reply      TEXT    NOT NULL DEFAULT ''   -- the relay's last reply, or why it failed
);
CREATE INDEX relay_jobs_due ON relay_jobs(due) WHERE state IN ('queued', 'sending');
CREATE INDEX relay_jobs_uid ON relay_jobs(uid);
