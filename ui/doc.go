// Package ui serves a device's home as a local web page: what the
// trustsync command does, for people who would rather click than type.
// 'trustsync ui' runs it beside the device's sync node.
//
// # Serving
//
// [New] makes a [Server] for a home directory; [Server.Start] listens on a
// loopback address only (127.0.0.1 on a free port by default; any other
// address fails with [ErrNotLoopback]) and opens the home, or shows only
// the unlock page while the home is locked. [Server.URL] is the address to
// open, with a secret made for this launch; [Server.Close] stops it all.
//
// The pages read and write through the same library calls as the command
// line ([crdt.Space] methods, [home.Home], [sync.Node]); a partner's edits
// appear live through server-sent events at /events, which name the parts
// of the page to refresh.
//
// # Security
//
// Other local users and other web pages in the same browser are treated
// as attackers. The secret in the printed URL is exchanged at /login for an
// HttpOnly, SameSite=Strict session cookie, and the browser is sent on to
// an address without it; every other request needs that cookie. The Host
// header must name 127.0.0.1 or localhost with the server's port (against
// DNS rebinding). Every state change is a POST carrying a CSRF token bound
// to the session, from a page of this server (Origin, else Referer). No
// response carries CORS headers; every one carries the strict
// Content-Security-Policy [CSP], nosniff, no-referrer and no-store.
// Secrets are compared in constant time.
//
// Everything shown is escaped by html/template after what a terminal would
// act on -- control characters, bidirectional overrides -- is made visible
// as the command line shows it (internal/showtext).
//
// # Routes
//
// Pages (GET): / (today: what is due and what waits), /boundaries,
// /goals, /checkins, /commitments, /apologies, /setbacks, /rhythm,
// /questions, /moments, /history, /journal, /pair, /devices; /events (the
// live updates); /static/style.css and /static/app.js; /login?secret=...
// (&next=PAGE to land on a page of the site).
//
// Changes (POST, each form with its csrf field): /unlock and /lock; under
// /boundaries/, propose, edit, agree (id and seen, the words shown),
// archive and restore; under /goals/, add, edit, step, done, archive and
// restore; /checkins/add and /checkins/ack; /commitments/add, record and
// ack; /apologies/write and ack; /setbacks/add, feel and plan; /rhythm/set
// and agree; /questions/ask and answer; /moments/add; /journal/open,
// close, write and passphrase; /pair/invite, join, confirm and cancel;
// /devices/unpair. A change redirects (303) to its page, with ?done= naming
// the message shown; a refused one shows its page with one sentence and
// the form as it was typed.
//
// # Files
//
// The templates, one CSS file and one small script are embedded in the
// binary; the page loads nothing from anywhere else.
package ui
