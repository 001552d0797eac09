-- A covering index for the light listings (POP3 UIDL, IMAP SELECT) and for counting the
-- matches of a full-text search: both read it instead of the wide messages rows.
CREATE INDEX messages_list ON messages(uid, read, size, created, id);
