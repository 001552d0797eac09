-- The read messages, as messages_unread holds the unread ones: counting the unread matches of a
-- broad search probes whichever of the two is smaller (see Store.Search).
CREATE INDEX messages_read ON messages(read) WHERE read = 1;
