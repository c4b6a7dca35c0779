package ui

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/showtext"
)

// CSP is the Content-Security-Policy of every response: nothing but this
// server's own script, style and images, no frames, forms posting only
// here.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// maxForm bounds the body of a form.
const maxForm = 1 << 20

// handler is the whole server: security checks first, then the routes.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /events", s.events)
	for _, p := range pages {
		path := p.Path
		if path == "/" {
			path = "/{$}"
		}
		mux.HandleFunc("GET "+path, s.showPage(p))
	}
	for path, a := range actions {
		mux.HandleFunc("POST "+path, s.act(a))
	}
	mux.HandleFunc("POST /unlock", s.unlock)
	mux.HandleFunc("POST /lock", s.lock)
	return s.secure(mux)
}

// secure applies the checks of every request before next sees it: the
// headers, the Host, the session cookie, and for a POST the Origin and
// the CSRF token. The secret is exchanged for a cookie at /login.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if !s.hostOK(r.Host) {
			refuse(w, http.StatusMisdirectedRequest, "This page answers only at 127.0.0.1 or localhost: open the address 'trustsync ui' printed.")
			return
		}
		if r.URL.Path == "/login" {
			s.login(w, r)
			return
		}
		session := s.session(r)
		if session == "" {
			refuse(w, http.StatusUnauthorized, "Open the address that 'trustsync ui' printed: it carries the key to this page.")
			return
		}
		if r.Method == http.MethodPost {
			if !s.originOK(r) {
				refuse(w, http.StatusForbidden, "Refused: this form was not sent from this page.")
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				refuse(w, http.StatusRequestEntityTooLarge, "That was too much text to save at once.")
				return
			}
			if !s.checkCSRF(session, r.PostForm.Get("csrf")) {
				refuse(w, http.StatusForbidden, "Refused: this form is out of date or was not sent from this page. Reload the page and try again.")
				return
			}
		} else if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD, POST")
			refuse(w, http.StatusMethodNotAllowed, "Only GET and POST are answered here.")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, session)))
	})
}

type sessionKey struct{}

// refuse answers a refused request with one plain sentence.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintln(w, msg)
}

// login exchanges the per-launch secret for a session cookie, then sends
// the browser to the page without the secret in its address.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		refuse(w, http.StatusMethodNotAllowed, "Open the address that 'trustsync ui' printed.")
		return
	}
	got := r.URL.Query().Get("secret")
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.secret)) != 1 {
		refuse(w, http.StatusForbidden, "This key does not open the page: open the address that 'trustsync ui' printed this time.")
		return
	}
	id, err := s.newSession()
	if err != nil {
		refuse(w, http.StatusInternalServerError, "Cannot start a session: try again.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	// ?next= may name a page of the site to land on; nothing else.
	to := "/"
	if next := r.URL.Query().Get("next"); next != "" && pageAt(next).Path == next {
		to = next
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// view is what every page template gets.
type view struct {
	Page    *page
	CSRF    string
	Flash   string
	Error   string
	Form    url.Values // what was typed, shown again after a refusal
	Locked  bool
	Problem string // why the home is not open, when not locked
	Now     time.Time
	Data    any
	Open    bool    // the home is open: the navigation shows
	Pages   []*page // the navigation
	Action  string  // the path the refused form was posted to
	Self    string  // this device's member ID
}

// Val returns what was typed in field of the form posted to action about
// item id ("" for a form about no item), so that a refused form keeps it.
func (v *view) Val(action, id, field string) string {
	if v.Action != action || v.Form == nil {
		return ""
	}
	if id != "" && v.Form.Get("id") != id && v.Form.Get("goal") != id && v.Form.Get("entry") != id {
		return ""
	}
	return v.Form.Get(field)
}

// ValIs reports whether field was typed as want in the form posted to
// action.
func (v *view) ValIs(action, id, field string, want any) bool {
	return v.Val(action, id, field) == fmt.Sprint(want)
}

// Has reports whether one of the values of field posted to action is
// want (a ticked checkbox).
func (v *view) Has(action, field, want string) bool {
	return v.Action == action && v.Form != nil && slices.Contains(v.Form[field], want)
}

// Other returns the values of field posted to action that are not among
// known, joined by commas: what was typed beside the checkboxes.
func (v *view) Other(action, field string, known []string) string {
	if v.Action != action || v.Form == nil {
		return ""
	}
	var out []string
	for _, x := range v.Form[field] {
		if !slices.Contains(known, x) && strings.TrimSpace(x) != "" {
			out = append(out, x)
		}
	}
	return strings.Join(out, ", ")
}

// Answered reports whether this device's person answered q.
func (v *view) Answered(q trustsync.Question) bool { return answeredBy(q, v.Self) }

// render writes the page p, or the unlock page while the home is locked.
func (s *Server) render(w http.ResponseWriter, r *http.Request, p *page, status int, flash, msg string, form url.Values) {
	session, _ := r.Context().Value(sessionKey{}).(string)
	v := &view{Page: p, CSRF: s.csrfToken(session), Flash: flash, Error: msg, Form: form, Now: s.opts.Now(), Pages: pages, Action: r.URL.Path}
	d := s.current()
	if d != nil {
		v.Open, v.Self = true, d.sp.Self().MemberID
	}
	s.mu.Lock()
	v.Locked, v.Problem = s.locked, s.openErr
	s.mu.Unlock()
	t := p.tmpl
	switch {
	case d == nil && v.Locked:
		t = unlockTmpl
		v.Page = unlockPage
	case d == nil:
		t = problemTmpl
		v.Page = problemPage
		if v.Problem == "" {
			v.Problem = "this home is not open"
		}
		status = http.StatusServiceUnavailable
	default:
		data, err := p.load(r.Context(), s, d)
		if err != nil {
			v.Error = sentence(err)
			status = http.StatusInternalServerError
		}
		v.Data = data
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		s.opts.Logger.Warn("render page", "page", p.Path, "err", err)
		refuse(w, http.StatusInternalServerError, "This page could not be shown: try again.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// showPage answers a GET of p; ?done= carries the message of the action
// that redirected here.
func (s *Server) showPage(p *page) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, p, http.StatusOK, doneWords[r.URL.Query().Get("done")], "", nil)
	}
}

// action is a state change posted by a form of page Page.
type action struct {
	Page string
	// Do makes the change from the form and returns the key of the
	// message shown after it (see doneWords).
	Do func(ctx context.Context, s *Server, d *device, f url.Values) (done string, err error)
}

// act answers a POST of a: the change, then a redirect to its page with
// what was done; or, refused, its page with one sentence and the form as
// typed.
func (s *Server) act(a action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p := pageAt(a.Page)
		d := s.current()
		if d == nil {
			s.render(w, r, p, http.StatusLocked, "", "", nil)
			return
		}
		done, err := a.Do(r.Context(), s, d, r.PostForm)
		if err != nil {
			s.render(w, r, p, statusOf(err), "", sentence(err), r.PostForm)
			return
		}
		target := p.Path
		if done != "" {
			target += "?done=" + url.QueryEscape(done)
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// unlock opens a locked home with the passphrase typed.
func (s *Server) unlock(w http.ResponseWriter, r *http.Request) {
	p := []byte(r.PostForm.Get("passphrase"))
	if len(p) == 0 {
		s.render(w, r, pages[0], http.StatusBadRequest, "", "Type the passphrase of this home.", nil)
		return
	}
	if err := s.openHome(r.Context(), p); err != nil {
		s.render(w, r, pages[0], http.StatusForbidden, "", homeWords(err), nil)
		return
	}
	http.Redirect(w, r, "/?done=unlocked", http.StatusSeeOther)
}

// lock forgets the home's key and closes it.
func (s *Server) lock(w http.ResponseWriter, r *http.Request) {
	if err := s.lockHome(); err != nil {
		s.render(w, r, pageAt("/devices"), http.StatusConflict, "", sentence(err), nil)
		return
	}
	http.Redirect(w, r, "/?done=locked", http.StatusSeeOther)
}

// statusOf is the HTTP status of a refused change.
func statusOf(err error) int {
	switch {
	case errors.Is(err, crdt.ErrTextChanged):
		return http.StatusConflict
	case errors.Is(err, trustsync.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, trustsync.ErrInvalid), errors.Is(err, errInput), errors.Is(err, trustsync.ErrAmbiguous),
		errors.Is(err, home.ErrWrongPassphrase), errors.Is(err, home.ErrShortPassphrase):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// errInput marks a form refused before it reached the library.
var errInput = errors.New("bad input")

// inputf makes a one-line refusal of a form.
func inputf(format string, a ...any) error {
	return fmt.Errorf(format+"%w", append(a, inputMark{})...)
}

// inputMark wraps errInput without adding words to the message.
type inputMark struct{}

func (inputMark) Error() string { return "" }
func (inputMark) Unwrap() error { return errInput }

// sentence turns an error into the one line shown on the page: the
// library's own words, without the names of sentinels at their end.
func sentence(err error) string {
	var tc *crdt.TextChangedError
	if errors.As(err, &tc) {
		return "Not agreed: " + oneLine(tc.Error())
	}
	msg := oneLine(err.Error())
	for _, sentinel := range []error{trustsync.ErrInvalid, trustsync.ErrNotFound, trustsync.ErrAmbiguous, crdt.ErrTextChanged, trustsync.ErrClosed} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
	}
	if msg == "" {
		return "That did not work: try again."
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "?") && !strings.HasSuffix(msg, "!") {
		msg += "."
	}
	return msg
}

// oneLine puts s on one line, as the command line does.
func oneLine(s string) string { return showtext.OneLine(s) }

// templates parses the layout with one page's template.
func templates(name string) *template.Template {
	return template.Must(template.New(name).Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/"+name+".html"))
}
