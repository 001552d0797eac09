-- Every notification a commit sends gets the next number of this sequence (under the counters
-- row lock, so in commit order): each process publishes the changes of every process in that
-- order, its own included, and IMAP sees UIDs arrive strictly increasing.
ALTER TABLE counters ADD COLUMN seq bigint NOT NULL DEFAULT 0;
