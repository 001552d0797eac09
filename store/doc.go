// Package store is letterbox's mail delivery agent: it keeps captured messages durably in SQLite,
// parses them once at ingest (MIME via enmime; attachments are decoded from the raw message again
// when read, see partread.go), indexes them for search (FTS5), applies retention and announces
// every change to subscribers after it is committed.
//
// Parsing: enmime parses every part; the store cuts a well-formed multipart message into its
// parts itself, which spares enmime's per-byte boundary search (see mimeparts.go), and leaves
// anything unusual or malformed to enmime whole.
//
// It knows nothing of SMTP, HTTP, POP3 or IMAP: those packages read and change messages only
// through the methods here. All SQL of the project lives in this package.
//
// Durability: the database runs in WAL mode with synchronous=FULL, and Add returns only after the
// transaction holding the message has been committed. One writer goroutine commits whatever
// messages are waiting in a single transaction (group commit), which makes FULL durability cheap;
// under load it waits a moment for messages on their way (Expect) to fill the batch.
package store
