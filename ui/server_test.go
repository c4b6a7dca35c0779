package ui

import (
	"bufio"
	"context"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/internal/testpair"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers of libp2p's dependencies, started once.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
	)
}

const pass = "correct horse battery staple"

// keeper keeps keys in files of a directory of the test's own, never in
// the system's keyring.
func keeper(t *testing.T) home.Keeper {
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	return &keys.Keeper{RuntimeDir: filepath.Join(run, "trustsync")}
}

// newHome makes a home for name in a new temporary directory, encrypted
// (and locked) when encrypt is set.
func newHome(t *testing.T, name string, encrypt bool, k home.Keeper) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home-"+strings.ToLower(name))
	opts := home.CreateOptions{
		Options: home.Options{Keeper: k},
		Name:    name, Device: strings.ToLower(name) + "-laptop",
		Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
		Encrypt: encrypt, KDF: home.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1},
	}
	if encrypt {
		opts.Passphrase = []byte(pass)
	}
	h, err := home.Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startServer starts a page on dir, closed when the test ends.
func startServer(t *testing.T, dir string, k home.Keeper) *Server {
	t.Helper()
	s, err := New(Options{Dir: dir, Home: home.Options{Keeper: k}, Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// logWriter writes the server's warnings to the test's log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// client is a browser of the page: its cookie jar and the CSRF token of
// its session.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

// noRedirect makes a client that reports redirects instead of following.
func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login opens the printed URL as a browser does and takes the session's
// CSRF token from the first page.
func login(t *testing.T, s *Server) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: "http://" + s.Addr(), c: noRedirect(jar)}
	resp, err := c.c.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %s to %q, want 303 to /", resp.Status, resp.Header.Get("Location"))
	}
	ck := resp.Header.Get("Set-Cookie")
	for _, want := range []string{CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			t.Fatalf("login cookie %q lacks %q", ck, want)
		}
	}
	_, body := c.get("/boundaries")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", body)
	}
	c.csrf = html.UnescapeString(m[1])
	return c
}

func (c *client) get(path string) (int, string) {
	c.t.Helper()
	resp, err := c.c.Get(c.base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// post sends a form from the page, with its token and origin; it returns
// the status, the body and where a redirect goes.
func (c *client) post(path string, form url.Values) (int, string, string) {
	c.t.Helper()
	f := url.Values{"csrf": {c.csrf}}
	for k, v := range form {
		f[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(f.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", c.base)
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// do posts and expects the change to be made: a redirect back to page,
// which then shows the message of what was done.
func (c *client) do(path string, form url.Values, page string) string {
	c.t.Helper()
	code, body, loc := c.post(path, form)
	if code != http.StatusSeeOther || !strings.HasPrefix(loc, page) {
		c.t.Fatalf("POST %s: %d to %q, want 303 to %s:\n%s", path, code, loc, page, errorLine(body))
	}
	_, body = c.get(loc)
	return body
}

var errorRE = regexp.MustCompile(`(?s)role="alert">(.*?)</p>`)

// errorLine is the one-line message a page shows, or "".
func errorLine(body string) string {
	if m := errorRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

func TestNew_LoopbackOnly(t *testing.T) {
	dir := t.TempDir()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "192.168.1.10:8080", "example.com:80", "localhost:0", ":0", "127.0.0.1"} {
		if _, err := New(Options{Dir: dir, Addr: addr}); err == nil {
			t.Errorf("New with %q: no error, want a refusal", addr)
		} else if addr != "127.0.0.1" && !errors.Is(err, ErrNotLoopback) {
			t.Errorf("New with %q: %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "127.0.0.2:0", "[::1]:0"} {
		s, err := New(Options{Dir: dir, Addr: addr})
		if err != nil {
			t.Errorf("New with %q: %v", addr, err)
			continue
		}
		s.Close()
	}
}

func TestServer_Refusals(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	other := login(t, s) // a second session: its token is not c's
	base := c.base
	stranger := noRedirect(nil)
	form := func(csrf string) string {
		return url.Values{"csrf": {csrf}, "text": {"I tell you when my plans change"}}.Encode()
	}
	for _, tc := range []struct {
		name   string
		client *http.Client
		method string
		url    string
		host   string
		origin string
		body   string
		want   int
	}{
		{"wrong host (DNS rebinding)", c.c, "GET", base + "/", "evil.example:" + port(s), "", "", http.StatusMisdirectedRequest},
		{"wrong port in host", c.c, "GET", base + "/", "127.0.0.1:1", "", "", http.StatusMisdirectedRequest},
		{"secret for another host", stranger, "GET", s.URL(), "attacker.test", "", "", http.StatusMisdirectedRequest},
		{"no secret", stranger, "GET", base + "/login", "", "", "", http.StatusForbidden},
		{"wrong secret", stranger, "GET", base + "/login?secret=guess", "", "", "", http.StatusForbidden},
		{"secret almost right", stranger, "GET", s.URL() + "x", "", "", "", http.StatusForbidden},
		{"page without the cookie (another local user)", stranger, "GET", base + "/boundaries", "", "", "", http.StatusUnauthorized},
		{"events without the cookie", stranger, "GET", base + "/events", "", "", "", http.StatusUnauthorized},
		{"post without the cookie", stranger, "POST", base + "/boundaries/propose", "", base, form(c.csrf), http.StatusUnauthorized},
		{"cross-origin post", c.c, "POST", base + "/boundaries/propose", "", "http://evil.example", form(c.csrf), http.StatusForbidden},
		{"cross-origin post from another port", c.c, "POST", base + "/boundaries/propose", "", "http://127.0.0.1:1", form(c.csrf), http.StatusForbidden},
		{"post from an opaque origin", c.c, "POST", base + "/boundaries/propose", "", "null", form(c.csrf), http.StatusForbidden},
		{"post without origin or referer", c.c, "POST", base + "/boundaries/propose", "", "-", form(c.csrf), http.StatusForbidden},
		{"post without token", c.c, "POST", base + "/boundaries/propose", "", base, url.Values{"text": {"x"}}.Encode(), http.StatusForbidden},
		{"post with a wrong token", c.c, "POST", base + "/boundaries/propose", "", base, form("AAAA" + c.csrf[4:]), http.StatusForbidden},
		{"post with another session's token", c.c, "POST", base + "/boundaries/propose", "", base, form(other.csrf), http.StatusForbidden},
		{"login by post", stranger, "POST", s.URL(), "", base, "", http.StatusMethodNotAllowed},
		{"other methods", c.c, "PUT", base + "/boundaries", "", base, "", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			switch tc.origin {
			case "", "-":
			default:
				req.Header.Set("Origin", tc.origin)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := tc.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s %s: %s, want %d: %s", tc.method, tc.url, resp.Status, tc.want, b)
			}
			if ck := resp.Header.Get("Set-Cookie"); ck != "" {
				t.Errorf("a refused request got a cookie: %s", ck)
			}
			if resp.Header.Get("Content-Security-Policy") != CSP {
				t.Errorf("refusal without the CSP")
			}
		})
	}
	// Nothing of the refused posts was written.
	if _, body := c.get("/boundaries"); strings.Contains(body, `class="card"`) {
		t.Errorf("a refused post was saved")
	}
	// A Referer of this page stands in for a missing Origin.
	req, _ := http.NewRequest("POST", base+"/boundaries/propose", strings.NewReader(form(c.csrf)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Referer", base+"/boundaries")
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("post with this page as Referer: %s, want 303", resp.Status)
	}
	// The secret may land on a page of the site, and nowhere else.
	for next, want := range map[string]string{"/goals": "/goals", "http://evil.example/": "/", "//evil.example": "/", "/no-such-page": "/"} {
		resp, err := stranger.Get(s.URL() + "&next=" + url.QueryEscape(next))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("login with next=%s: %s to %q, want 303 to %q", next, resp.Status, got, want)
		}
	}
	// localhost names the server as well as 127.0.0.1 does.
	req, _ = http.NewRequest("GET", base+"/boundaries", nil)
	req.Host = "localhost:" + port(s)
	cookies, _ := c.c.Jar.(*cookiejar.Jar)
	u, _ := url.Parse(base)
	for _, ck := range cookies.Cookies(u) {
		req.AddCookie(ck)
	}
	resp, err = stranger.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET with Host localhost: %s, want 200", resp.Status)
	}
}

func port(s *Server) string { return s.Addr()[strings.LastIndex(s.Addr(), ":")+1:] }

func TestServer_HeadersOnEveryResponse(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	stranger := noRedirect(nil)
	paths := []string{"/static/style.css", "/static/app.js", "/no-such-page", "/login?secret=wrong"}
	for _, p := range pages {
		paths = append(paths, p.Path)
	}
	check := func(what string, resp *http.Response) {
		t.Helper()
		h := resp.Header
		if got := h.Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s: Content-Security-Policy %q, want %q", what, got, CSP)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", what, h)
		}
		for name := range h {
			if strings.HasPrefix(strings.ToLower(name), "access-control-") {
				t.Errorf("%s: CORS header %s", what, name)
			}
		}
	}
	for _, p := range paths {
		for _, cl := range []*http.Client{c.c, stranger} {
			req, _ := http.NewRequest("GET", c.base+p, nil)
			req.Header.Set("Origin", "http://evil.example") // a CORS request asks for its headers
			resp, err := cl.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			check("GET "+p, resp)
		}
	}
	resp, err := c.c.Get(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	check("login", resp)
	// The static files are what they say they are.
	for p, want := range map[string]string{"/static/style.css": "text/css", "/static/app.js": "javascript"} {
		resp, err := c.c.Get(c.base + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %s, %s", p, resp.Status, resp.Header.Get("Content-Type"))
		}
	}
}

func TestServer_StateChangesRefuseGET(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	routes := []string{"/unlock", "/lock"}
	for path := range actions {
		routes = append(routes, path)
	}
	slices.Sort(routes)
	for _, path := range routes {
		code, _ := c.get(path + "?csrf=" + url.QueryEscape(c.csrf) + "&id=x&text=x")
		if code != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: %d, want 405", path, code)
		}
	}
	if _, body := c.get("/boundaries"); strings.Contains(body, `class="card"`) {
		t.Errorf("a GET changed something:\n%s", body)
	}
}

func TestServer_Locked(t *testing.T) {
	k := keeper(t)
	dir := newHome(t, "Alex", true, k)
	s := startServer(t, dir, k)
	c := login(t, s)
	for _, p := range pages {
		code, body := c.get(p.Path)
		if code != http.StatusOK || !strings.Contains(body, `id="unlock-form"`) {
			t.Fatalf("locked, GET %s: %d, want the unlock page:\n%s", p.Path, code, body)
		}
		if strings.Contains(body, "<nav") || strings.Contains(body, "Alex") {
			t.Errorf("locked, GET %s shows more than the unlock page:\n%s", p.Path, body)
		}
	}
	code, body, _ := c.post("/boundaries/propose", url.Values{"text": {"I call when late"}})
	if code != http.StatusLocked || !strings.Contains(body, `id="unlock-form"`) {
		t.Fatalf("locked, propose: %d, want 423 and the unlock page", code)
	}
	code, body, _ = c.post("/unlock", url.Values{"passphrase": {"not the passphrase"}})
	if code != http.StatusForbidden || !strings.Contains(errorLine(body), "wrong passphrase") {
		t.Fatalf("unlock with a wrong passphrase: %d %q", code, errorLine(body))
	}
	body = c.do("/unlock", url.Values{"passphrase": {pass}}, "/")
	if !strings.Contains(body, "<nav") || !strings.Contains(body, "Unlocked.") {
		t.Fatalf("unlocked page:\n%s", body)
	}
	c.do("/boundaries/propose", url.Values{"text": {"I call when late"}}, "/boundaries")
	c.do("/lock", nil, "/")
	_, body = c.get("/boundaries")
	if !strings.Contains(body, `id="unlock-form"`) || strings.Contains(body, "I call when late") {
		t.Fatalf("after lock, the boundaries page shows:\n%s", body)
	}
	// The page holds the key no more: opening the home needs the passphrase.
	if _, err := home.Open(dir, home.Options{Keeper: k}); !errors.Is(err, home.ErrLocked) {
		t.Errorf("open after lock: %v, want ErrLocked", err)
	}
}

func TestServer_NotEncryptedCannotLock(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	code, body, _ := c.post("/lock", nil)
	if code != http.StatusConflict || !strings.Contains(errorLine(body), "not encrypted") {
		t.Fatalf("lock of a home without encryption: %d %q", code, errorLine(body))
	}
}

// partner pairs a second home with the page's by hand and returns its
// space, open until the test ends, and a function that copies its
// documents to the page's space as a sync would.
func partner(t *testing.T, s *Server) (*crdt.Space, func()) {
	t.Helper()
	h, sync := partnerHome(t, s)
	return h.Space(), sync
}

// partnerHome is partner, returning the partner's whole home.
func partnerHome(t *testing.T, s *Server) (*home.Home, func()) {
	t.Helper()
	k := keeper(t)
	h, err := home.Open(newHome(t, "Sam", false, k), home.Options{Keeper: k})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	mine := s.current().sp
	testpair.Spaces(t, mine, h.Space())
	return h, func() {
		t.Helper()
		ctx := context.Background()
		for _, pair := range [][2]*crdt.Space{{h.Space(), mine}, {mine, h.Space()}} {
			from, to := pair[0], pair[1]
			docs, err := from.Docs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(docs, func(a, b string) int { // the space document first, as a session sends it
				switch {
				case a == crdt.SpaceDoc:
					return -1
				case b == crdt.SpaceDoc:
					return 1
				}
				return strings.Compare(a, b)
			})
			for _, doc := range docs {
				data, err := from.SaveSigned(ctx, doc)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := to.Import(ctx, doc, data, from.Self().DeviceID); err != nil {
					t.Fatalf("import %s: %v", doc, err)
				}
			}
		}
	}
}

func TestServer_BoundaryFlow(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partner(t, s)
	ctx := context.Background()

	// An empty proposal is refused in one line.
	code, body, _ := c.post("/boundaries/propose", url.Values{"text": {"  "}})
	if code != http.StatusUnprocessableEntity || errorLine(body) == "" || strings.Contains(errorLine(body), "\n") {
		t.Fatalf("empty proposal: %d %q", code, errorLine(body))
	}
	body = c.do("/boundaries/propose", url.Values{"text": {"I tell you when my plans change"}}, "/boundaries")
	if !strings.Contains(body, "I tell you when my plans change") || !strings.Contains(body, "waiting for you and Sam") {
		t.Fatalf("after proposing:\n%s", body)
	}
	bs, err := s.current().sp.Boundaries(ctx, crdt.ListOptions{})
	if err != nil || len(bs) != 1 {
		t.Fatalf("boundaries: %v %v", bs, err)
	}
	id := bs[0].ID

	// Sam changes the words meanwhile: agreeing to the words shown before
	// is refused, with the words now in effect.
	sync()
	if err := sam.EditBoundary(ctx, id, "I tell you when my plans change, before they do"); err != nil {
		t.Fatal(err)
	}
	sync()
	code, body, _ = c.post("/boundaries/agree", url.Values{"id": {id}, "seen": {"I tell you when my plans change"}})
	if code != http.StatusConflict || !strings.Contains(errorLine(body), "before they do") {
		t.Fatalf("agree to old words: %d %q", code, errorLine(body))
	}
	if !strings.Contains(body, `name="seen" value="I tell you when my plans change, before they do"`) {
		t.Errorf("the refusal does not show the new words to agree to")
	}
	code, _, _ = c.post("/boundaries/agree", url.Values{"id": {id}})
	if code != http.StatusUnprocessableEntity {
		t.Errorf("agree without the words shown: %d, want 422", code)
	}
	body = c.do("/boundaries/agree", url.Values{"id": {id}, "seen": {"I tell you when my plans change, before they do"}}, "/boundaries")
	if !strings.Contains(body, "agreed by you; waiting for Sam") {
		t.Fatalf("after agreeing:\n%s", body)
	}
	if err := sam.AgreeBoundary(ctx, id); err != nil {
		t.Fatal(err)
	}
	sync()
	_, body = c.get("/boundaries")
	if !strings.Contains(body, "agreed by both") || !strings.Contains(body, "Sam agreed") || !strings.Contains(body, "You agreed") {
		t.Fatalf("after both agreed:\n%s", body)
	}

	// Words over several lines come back from a browser with CRLF line
	// breaks: they are the words shown all the same.
	c.do("/boundaries/propose", url.Values{"text": {"I tell you where I am.\nI answer when you call."}}, "/boundaries")
	bs, err = s.current().sp.Boundaries(ctx, crdt.ListOptions{})
	must(t, err)
	for _, b := range bs {
		if strings.Contains(b.Text, "\n") {
			c.do("/boundaries/agree", url.Values{"id": {b.ID}, "seen": {"I tell you where I am.\r\nI answer when you call."}}, "/boundaries")
		}
	}

	// Edit, archive, restore.
	code, body, _ = c.post("/boundaries/edit", url.Values{"id": {id}, "text": {"bad \u202e words"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "bad \u202e words</textarea>") {
		t.Fatalf("a refused edit loses what was typed: %d %q", code, errorLine(body))
	}
	body = c.do("/boundaries/edit", url.Values{"id": {id}, "text": {"I tell you my plans a day ahead"}}, "/boundaries")
	if !strings.Contains(body, "I tell you my plans a day ahead") || !strings.Contains(body, "waiting for you and Sam") {
		t.Fatalf("after editing:\n%s", body)
	}
	body = c.do("/boundaries/archive", url.Values{"id": {id}}, "/boundaries")
	if !strings.Contains(body, `id="archived-h"`) || !strings.Contains(body, `id="restore-`+id+`"`) {
		t.Fatalf("after archiving:\n%s", body)
	}
	body = c.do("/boundaries/restore", url.Values{"id": {id}}, "/boundaries")
	if strings.Contains(body, `id="archived-h"`) {
		t.Fatalf("after restoring:\n%s", body)
	}
	_, body = c.get("/history")
	if !strings.Contains(body, "boundary "+id[:8]) {
		t.Errorf("history does not tell of the boundary:\n%s", body)
	}
}

func TestServer_CheckInFlow(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partner(t, s)
	ctx := context.Background()

	// A check-in without a mood is refused, and keeps what was typed.
	note := "I feel uneasy when plans change late, because I start to worry."
	code, body, _ := c.post("/checkins/add", url.Values{"note": {note}, "feeling": {"anxious", "hopeful, tired"}, "needs": {"a call"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(errorLine(body), "how you feel") {
		t.Fatalf("check-in without mood: %d %q", code, errorLine(body))
	}
	for _, kept := range []string{html.EscapeString(note) + "</textarea>", `value="anxious" checked`, `value="hopeful, tired"`, `value="a call"`} {
		if !strings.Contains(body, kept) {
			t.Errorf("the refused form lost %q", kept)
		}
	}
	body = c.do("/checkins/add", url.Values{"mood": {"2"}, "note": {note}, "feeling": {"anxious", "hopeful, tired"}}, "/checkins")
	for _, want := range []string{"Your check-in", "<strong>low</strong>: anxious, hopeful, tired", html.EscapeString(note)} {
		if !strings.Contains(body, want) {
			t.Errorf("check-in page lacks %q:\n%s", want, body)
		}
	}

	// Sam checks in; Alex acknowledges with a reply.
	sync()
	id, err := sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 4, Note: "I noticed you called."})
	if err != nil {
		t.Fatal(err)
	}
	sync()
	_, body = c.get("/")
	if !strings.Contains(body, "1 check-in you have not acknowledged") {
		t.Errorf("the overview does not say a check-in waits:\n%s", body)
	}
	_, body = c.get("/checkins")
	if !strings.Contains(body, "Sam's check-in") || !strings.Contains(body, `id="ack-`+id+`"`) {
		t.Fatalf("Sam's check-in is not shown to acknowledge:\n%s", body)
	}
	body = c.do("/checkins/ack", url.Values{"id": {id}, "reply": {"Thank you for saying so."}}, "/checkins")
	if !strings.Contains(body, "You acknowledged it just now: “Thank you for saying so.”") || strings.Contains(body, `id="ack-`+id+`"`) {
		t.Fatalf("after acknowledging:\n%s", body)
	}
	sync()
	ci, err := sam.CheckIn(ctx, id)
	if err != nil || len(ci.Acks) != 1 || ci.Acks[0].Reply != "Thank you for saying so." {
		t.Fatalf("Sam's device sees acks %v (%v)", ci.Acks, err)
	}
}

func TestServer_PracticeFlows(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partner(t, s)
	ctx := context.Background()
	sp := s.current().sp

	c.do("/goals/add", url.Values{"title": {"Weekly walks"}, "why": {"Time to talk"}}, "/goals")
	gs, _ := sp.Goals(ctx, crdt.ListOptions{})
	body := c.do("/goals/step", url.Values{"goal": {gs[0].ID}, "text": {"Pick a route"}}, "/goals")
	if !strings.Contains(body, "0 of 1 step done") {
		t.Errorf("goal progress:\n%s", body)
	}
	gs, _ = sp.Goals(ctx, crdt.ListOptions{})
	body = c.do("/goals/done", url.Values{"id": {gs[0].Steps[0].ID}}, "/goals")
	if !strings.Contains(body, "Every step done") {
		t.Errorf("goal progress after the step:\n%s", body)
	}

	body = c.do("/goals/edit", url.Values{"id": {gs[0].ID}, "title": {"Walks every Sunday"}, "why": {"Time to talk"}}, "/goals")
	if !strings.Contains(body, "Walks every Sunday") || !strings.Contains(body, "Goal saved.") {
		t.Errorf("edited goal:\n%s", body)
	}
	c.do("/commitments/add", url.Values{"text": {"I call if I am late"}}, "/commitments")
	cs, _ := sp.Commitments(ctx)
	code, _, _ := c.post("/commitments/record", url.Values{"id": {cs[0].ID}})
	if code != http.StatusUnprocessableEntity {
		t.Errorf("record without kept or missed: %d", code)
	}
	body = c.do("/commitments/record", url.Values{"id": {cs[0].ID}, "outcome": {"missed"}, "note": {"Forgot my phone"}}, "/commitments")
	if !strings.Contains(body, "<strong>Missed</strong>") {
		t.Errorf("commitment entry:\n%s", body)
	}

	apology := url.Values{"happened": {"I did not call"}, "impact": {"You waited"}, "responsibility": {"I forgot"}, "different": {"I set a reminder"}}
	body = c.do("/apologies/write", apology, "/apologies")
	if !strings.Contains(body, "I set a reminder") {
		t.Errorf("apology:\n%s", body)
	}
	body = c.do("/setbacks/add", url.Values{"about": {cs[0].ID}, "text": {"Late again"}, "plan": {"Alarm at six"}}, "/setbacks")
	if !strings.Contains(body, "Late again") || !strings.Contains(body, "Alarm at six") {
		t.Errorf("setback:\n%s", body)
	}
	body = c.do("/rhythm/set", url.Values{"every": {"weekly"}, "day": {"Sunday"}}, "/rhythm")
	if !strings.Contains(body, "weekly on Sunday") || !strings.Contains(body, "waiting for you and Sam") {
		t.Errorf("rhythm:\n%s", body)
	}
	body = c.do("/rhythm/agree", url.Values{"every": {"weekly"}, "day": {"Sunday"}}, "/rhythm")
	if !strings.Contains(body, "agreed by you; waiting for Sam") {
		t.Errorf("rhythm agreed:\n%s", body)
	}
	body = c.do("/moments/add", url.Values{"text": {"Dinner together"}, "thanks": {"yes"}}, "/moments")
	if !strings.Contains(body, "Thanks from you") {
		t.Errorf("moment:\n%s", body)
	}

	// A question opens once both answered.
	c.do("/questions/ask", url.Values{"text": {"What helped this week?"}}, "/questions")
	qs, _ := sp.Questions(ctx)
	c.do("/questions/answer", url.Values{"id": {qs[0].ID}, "text": {"The walk"}}, "/questions")
	sync()
	if err := sam.AnswerQuestion(ctx, qs[0].ID, "Your call on Tuesday"); err != nil {
		t.Fatal(err)
	}
	sync()
	sync() // each side reveals its answer once it sees both
	_, body = c.get("/questions")
	if !strings.Contains(body, "Answered by you both") || !strings.Contains(body, "Your call on Tuesday") {
		t.Errorf("answered question:\n%s", body)
	}
}

func TestServer_JournalBehindItsPassphrase(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	c.do("/journal/open", nil, "/journal")
	c.do("/journal/write", url.Values{"text": {"Still angry, not ready to say it."}, "mood": {"2"}}, "/journal")
	code, body, _ := c.post("/journal/passphrase", url.Values{"passphrase": {"a long journal pass"}, "again": {"another one"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(errorLine(body), "differ") {
		t.Fatalf("different passphrases: %d %q", code, errorLine(body))
	}
	body = c.do("/journal/passphrase", url.Values{"passphrase": {"a long journal pass"}, "again": {"a long journal pass"}}, "/journal")
	if strings.Contains(body, "Still angry") || !strings.Contains(body, `id="journal-passphrase"`) {
		t.Fatalf("after setting a passphrase the journal shows:\n%s", body)
	}
	code, body, _ = c.post("/journal/open", url.Values{"passphrase": {"wrong"}})
	if code != http.StatusUnprocessableEntity || strings.Contains(body, "Still angry") {
		t.Fatalf("journal with a wrong passphrase: %d", code)
	}
	body = c.do("/journal/open", url.Values{"passphrase": {"a long journal pass"}}, "/journal")
	if !strings.Contains(body, "Still angry, not ready to say it.") || !strings.Contains(body, "feeling low") {
		t.Fatalf("open journal:\n%s", body)
	}
	body = c.do("/journal/close", nil, "/journal")
	if strings.Contains(body, "Still angry") {
		t.Fatalf("closed journal still shows its entries")
	}
}

// hostile is text a partner could write: markup, and characters that
// would make shown words read differently from the stored ones.
const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)>"' &amp;`

func TestServer_EscapesEveryListing(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partner(t, s)
	ctx := context.Background()
	sync()
	bid, err := sam.AddBoundary(ctx, hostile)
	must(t, err)
	gid, err := sam.AddGoal(ctx, hostile, hostile)
	must(t, err)
	_, err = sam.AddStep(ctx, gid, hostile)
	must(t, err)
	_, err = sam.AddCheckIn(ctx, trustsync.NewCheckIn{Mood: 3, Feelings: []string{hostile}, Note: hostile, Needs: hostile, Concerns: hostile, Appreciation: hostile})
	must(t, err)
	cid, err := sam.AddCommitment(ctx, hostile)
	must(t, err)
	_, err = sam.RecordCommitment(ctx, cid, false, hostile)
	must(t, err)
	_, err = sam.WriteApology(ctx, trustsync.NewApology{Happened: hostile, Impact: hostile, Responsibility: hostile, Different: hostile})
	must(t, err)
	sid, err := sam.AddSetback(ctx, hostile, bid, hostile)
	must(t, err)
	must(t, sam.FeelSetback(ctx, sid, hostile))
	_, err = sam.AskQuestion(ctx, hostile)
	must(t, err)
	_, err = sam.AddMoment(ctx, hostile, true)
	must(t, err)
	sync()
	for _, p := range pages {
		_, body := c.get(p.Path)
		for _, raw := range []string{"<script>alert", "<img src=x", "onerror=alert(2)>"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s shows %q unescaped", p.Path, raw)
			}
		}
	}
	for path, want := range map[string]int{"/boundaries": 2, "/goals": 3, "/checkins": 5, "/commitments": 2, "/apologies": 4, "/setbacks": 3, "/questions": 1, "/moments": 1, "/": 2} {
		_, body := c.get(path)
		if n := strings.Count(body, "&lt;script&gt;alert(1)&lt;/script&gt;"); n < want {
			t.Errorf("%s shows the text escaped %d times, want at least %d", path, n, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// event reads the next change event of an event stream, or fails after
// 10 seconds.
func event(t *testing.T, lines *bufio.Scanner) string {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		for lines.Scan() {
			if d, ok := strings.CutPrefix(lines.Text(), "data: "); ok {
				got <- d
				return
			}
		}
		got <- ""
	}()
	select {
	case d := <-got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no live update within 10s")
		return ""
	}
}

func TestServer_LiveUpdates(t *testing.T) {
	k := keeper(t)
	s := startServer(t, newHome(t, "Alex", false, k), k)
	c := login(t, s)
	sam, sync := partner(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/events", nil)
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s", resp.Header.Get("Content-Type"))
	}
	lines := bufio.NewScanner(resp.Body)
	// The partner's boundary arrives by sync: the stream names the part.
	if _, err := sam.AddBoundary(ctx, "I tell you when my plans change"); err != nil {
		t.Fatal(err)
	}
	sync()
	for {
		d := event(t, lines)
		if strings.Contains(d, "boundaries") || d == "all" {
			break
		}
	}
	// So does an edit made on the page itself.
	c.do("/moments/add", url.Values{"text": {"A good talk"}}, "/moments")
	for {
		d := event(t, lines)
		if strings.Contains(d, "moments") || d == "all" {
			break
		}
	}
}

func TestServer_PassphraseGivenAtStart(t *testing.T) {
	k := keeper(t)
	dir := newHome(t, "Alex", true, k)
	s, err := New(Options{Dir: dir, Home: home.Options{Keeper: k, Passphrase: []byte(pass)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := login(t, s)
	if _, body := c.get("/"); !strings.Contains(body, "<nav") {
		t.Fatalf("a home opened by the passphrase given shows:\n%s", body)
	}
	// A wrong one fails the start with the home's error.
	s2, err := New(Options{Dir: dir, Home: home.Options{Keeper: k, Passphrase: []byte("not the passphrase")}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if err := s2.Start(context.Background()); !errors.Is(err, home.ErrWrongPassphrase) {
		t.Fatalf("start with a wrong passphrase: %v", err)
	}
}
