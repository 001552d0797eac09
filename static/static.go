// Package static holds letterbox's web inbox: plain HTML, CSS and JavaScript
// modules, with no build step, embedded into the binary.
//
// The page talks only to the public JSON API (Mailpit's API v1 plus letterbox's
// extensions) and the /api/events websocket, so the inbox and integration tests
// see the same data. It works under a strict Content-Security-Policy (see CSP)
// and never inserts mail-supplied strings as HTML.
package static

import "embed"

// Files is the web inbox. index.html is at the root; every other asset sits
// beside it and is referenced with a relative path, so the tree can be served
// at "/" (or under a path prefix ending in "/") with http.FileServerFS.
//
//go:embed index.html style.css favicon.svg *.js
var Files embed.FS

// CSP is the Content-Security-Policy the page is written to work under.
// Servers should send it with index.html (and may send it with every asset).
// The HTML of a message is shown only in a sandboxed iframe loaded from
// /view/{ID}.html, which needs its own, stricter policy.
const CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
