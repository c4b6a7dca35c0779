package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	stdsync "sync"
	"time"

	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// Options configure [New]. The zero value serves the home in the default
// directory on a free port of 127.0.0.1.
type Options struct {
	// Dir is the home directory. Required.
	Dir string
	// Addr is where to listen: a loopback IP address and a port.
	// Default: "127.0.0.1:0", a free port. Any other address is refused
	// with [ErrNotLoopback].
	Addr string
	// Home are the options the home is opened and locked with (its
	// keeper, its clock). Its Passphrase, when set, opens an encrypted
	// home at Start; the page replaces it with the one typed to unlock.
	// AskPassphrase is never called. Default: the zero home.Options.
	Home home.Options
	// Start, when set, starts the device's node once the home is open (at
	// launch, or when it is unlocked on the page), as 'trustsync serve'
	// does, and returns it with a function that stops it. The server
	// calls stop before it closes the home (on lock and on Close).
	// Default: no node; the page then works on this device alone and
	// cannot pair.
	Start func(ctx context.Context, h *home.Home) (n *tsync.Node, stop func() error, err error)
	// Now is the clock of the relative times shown. Default: time.Now.
	Now func() time.Time
	// Logger receives what the server cannot tell the page. Default:
	// discard.
	Logger *slog.Logger
}

// ErrNotLoopback is returned by [New] for an address that is not a
// loopback one: the page is for this device only.
var ErrNotLoopback = errors.New("the page is served on this device only: give a loopback address such as 127.0.0.1")

// CookieName is the name of the session cookie the secret is exchanged
// for.
const CookieName = "trustsync_session"

// Server is the local web page of one home. Make one with [New], start it
// with [Server.Start], stop it with [Server.Close].
type Server struct {
	opts   Options
	secret string // the per-launch secret in the printed URL
	key    []byte // signs CSRF tokens
	ln     net.Listener
	srv    *http.Server
	port   string

	openMu   stdsync.Mutex // one open, close or lock of the home at a time
	mu       stdsync.Mutex
	sessions map[string]bool // session cookie values handed out
	dev      *device         // the open home; nil while locked
	locked   bool            // the home is encrypted and not open
	openErr  string          // why the home could not be opened, when not locked
	hub      *hub
	pairing  *pairing

	ctx    context.Context
	cancel context.CancelFunc
	wg     stdsync.WaitGroup
	once   stdsync.Once
}

// New checks opts and makes a server with a fresh secret. It does not
// listen yet.
func New(opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("new ui server: no home directory")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if err := checkLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	secret := make([]byte, 32)
	key := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("new ui server: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("new ui server: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{
		opts:     opts,
		secret:   base64.RawURLEncoding.EncodeToString(secret),
		key:      key,
		sessions: map[string]bool{},
		hub:      newHub(),
		ctx:      ctx,
		cancel:   cancel,
	}, nil
}

// checkLoopback refuses an address whose host is not a loopback IP.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen on %q: %w", addr, ErrNotLoopback)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("listen on %q: the port must be a number from 0 to 65535", addr)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen on %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

// Start listens, opens the home (a locked one waits for its passphrase on
// the page) and serves until [Server.Close]. ctx bounds only the start. A
// home that cannot be opened for another reason fails Start with the
// error of home.Open or of Options.Start.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("listen on %s: %w", s.opts.Addr, ErrNotLoopback)
	}
	s.ln = ln
	s.port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if err := s.openHome(ctx, nil); err != nil && !s.locked {
		ln.Close()
		return err
	}
	s.srv = &http.Server{
		Handler:           s.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.opts.Logger.Warn("serve the page", "err", err)
		}
	}()
	return nil
}

// Addr is the address the server listens on, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the address to open in a browser, with the per-launch secret,
// which is exchanged for a session cookie on first visit.
func (s *Server) URL() string {
	return "http://" + s.Addr() + "/login?secret=" + url.QueryEscape(s.secret)
}

// Close stops serving, ends the live updates, stops the node and closes
// the home. Safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		s.hub.close()
		if s.srv != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = s.srv.Shutdown(sctx)
			cancel()
			if err != nil {
				s.srv.Close()
			}
		}
		s.mu.Lock()
		p := s.pairing
		s.pairing = nil
		s.mu.Unlock()
		if p != nil {
			p.stop()
		}
		if cerr := s.closeHome(); cerr != nil && err == nil {
			err = cerr
		}
		s.wg.Wait() // the live updates end with the home's subscription
	})
	return err
}

// newSession hands out a session for the cookie.
func (s *Server) newSession() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(b)
	s.mu.Lock()
	s.sessions[id] = true
	s.mu.Unlock()
	return id, nil
}

// session returns the session of the request's cookie, or "".
func (s *Server) session(r *http.Request) string {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.sessions {
		if subtle.ConstantTimeCompare([]byte(id), []byte(c.Value)) == 1 {
			return id
		}
	}
	return ""
}

// csrfToken is the token the forms of a session carry: bound to the
// session, unknown to anyone without its cookie.
func (s *Server) csrfToken(session string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("csrf\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether token is the session's.
func (s *Server) checkCSRF(session, token string) bool {
	return subtle.ConstantTimeCompare([]byte(s.csrfToken(session)), []byte(token)) == 1
}

// hostOK reports whether the Host header names this server by its
// loopback address: a page of another site that a DNS name was pointed
// to 127.0.0.1 for (DNS rebinding) sends its own name.
func (s *Server) hostOK(host string) bool {
	return host == "127.0.0.1:"+s.port || host == "localhost:"+s.port
}

// originOK reports whether a state-changing request comes from a page of
// this server: its Origin header, else its Referer, must name it.
//
// A browser sends "Origin: null" and no Referer with a form of a page
// whose Referrer-Policy is no-referrer, as every page here is. For such a
// request the browser's own Sec-Fetch-Site header, which no page can set,
// must say the form came from this very origin (a page of another port of
// 127.0.0.1 is "same-site", not "same-origin").
func (s *Server) originOK(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" || src == "null" {
		return r.Header.Get("Sec-Fetch-Site") == "same-origin"
	}
	u, err := url.Parse(src)
	if err != nil || u.Scheme != "http" {
		return false
	}
	return s.hostOK(u.Host)
}
