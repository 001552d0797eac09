// Package pop3d serves the captured messages of a store over POP3, so that any mail client can
// download them.
//
// It implements POP3 (RFC 1939: USER, PASS, APOP, STAT, LIST, RETR, DELE, NOOP, RSET, QUIT, TOP,
// UIDL), the extension mechanism (RFC 2449: CAPA, RESP-CODES, PIPELINING), STLS (RFC 2595),
// SASL AUTH with the PLAIN mechanism (RFC 5034, RFC 4616) and the AUTH-RESP-CODE response
// code (RFC 3206). Implicit TLS ("POP3S") works by handing Serve a listener from tls.NewListener.
//
// # Logins and maildrops
//
// Any username and password are accepted unless Options.AuthFile names an htpasswd file of bcrypt
// hashes. The username selects the maildrop: a username containing "@" sees only the messages
// where that address is an envelope recipient or in To, Cc or Bcc; any other username sees every
// message. The maildrop is a snapshot of the store taken at login, oldest message first, with no
// cap on its size; messages that arrive later are seen at the next login. Several sessions may
// open the same maildrop at once (a mail catcher has no reason to lock it out).
//
// APOP (RFC 1939 §7) cannot be checked against bcrypt hashes, so it is offered only when there
// is no auth file: then the greeting carries the timestamp and any digest is accepted. With an
// auth file the greeting has no timestamp (so clients do not try APOP) and APOP is refused.
//
// # Read and delete state
//
// RETR marks the message read in the store (TOP does not), so the web inbox shows it read. DELE
// only marks a message in the session; the messages are deleted from the store when the client
// ends the session with QUIT (the UPDATE state). A session that ends any other way (the
// connection drops, the idle timeout passes, the server shuts down) deletes nothing.
//
// # Message bytes
//
// UIDL gives "V-U" where V is the store's UIDVALIDITY and U the message's integer UID: stable
// across sessions and restarts, and never reused even when the database file is replaced.
//
// RETR and TOP send the stored bytes with every line ending written as CRLF and lines starting
// with "." dot-stuffed (RFC 1939 §3). A message stored with CRLF line endings and ending in CRLF
// (the SMTP norm) therefore reaches the client byte for byte as stored. A message stored with
// bare LF line endings is sent with CRLF instead, since POP3 has no other way to send it; a
// message whose last line has no line ending gets a CRLF so that the terminating "." stands
// on a line of its own. LIST and STAT report the stored size, which is the size sent except for
// such messages (RFC 1939 §11 allows this).
package pop3d
