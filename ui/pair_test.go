package ui

import (
	"bufio"
	"context"
	"html"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/home"
	tsync "github.com/trustsync/trustsync/sync"
)

// startOnline starts a page on dir whose home goes online on 127.0.0.1.
func startOnline(t *testing.T, dir string, k home.Keeper) *Server {
	t.Helper()
	s, err := New(Options{
		Dir: dir, Home: home.Options{Keeper: k},
		Logger: slog.New(slog.NewTextHandler(logWriter{t}, nil)),
		Start: func(ctx context.Context, h *home.Home) (*tsync.Node, func() error, error) {
			n, err := h.StartNode(ctx, home.NodeOptions{NoMDNS: true})
			if err != nil {
				return nil, nil, err
			}
			return n, n.Close, nil
		},
	})
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

// until polls page of c until it matches re, for up to 30 seconds, and
// returns the first submatch.
func until(t *testing.T, c *client, page string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		_, body = c.get(page)
		if m := re.FindStringSubmatch(body); m != nil {
			if len(m) > 1 {
				return html.UnescapeString(m[1])
			}
			return m[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never matched %s:\n%s", page, re, body)
	return ""
}

// TestServer_PairOnThePage pairs two devices through their pages -- the
// invite with its QR code on one, pasted on the other, the same code
// confirmed on both -- and then sees an edit on one page reach the other
// live.
func TestServer_PairOnThePage(t *testing.T) {
	ka, kb := keeper(t), keeper(t)
	alex := startOnline(t, newHome(t, "Alex", false, ka), ka)
	sam := startOnline(t, newHome(t, "Sam", false, kb), kb)
	a, b := login(t, alex), login(t, sam)

	body := a.do("/pair/invite", nil, "/pair")
	if !strings.Contains(body, "<svg") || !strings.Contains(body, `id="invite-text"`) {
		t.Fatalf("the pairing page shows no invite:\n%s", body)
	}
	invite := until(t, a, "/pair", regexp.MustCompile(`(?s)id="invite-text" readonly rows="4" spellcheck="false">(.*?)</textarea>`))
	if _, err := tsync.ParseInvite(invite); err != nil {
		t.Fatalf("the invite shown does not parse: %v", err)
	}
	b.do("/pair/join", url.Values{"invite": {invite}}, "/pair")
	codeRE := regexp.MustCompile(`id="pair-code"[^>]*>([0-9]{6})<`)
	codeA, codeB := until(t, a, "/pair", codeRE), until(t, b, "/pair", codeRE)
	if codeA != codeB {
		t.Fatalf("codes differ: %s and %s", codeA, codeB)
	}
	a.do("/pair/confirm", url.Values{"answer": {"yes"}}, "/pair")
	b.do("/pair/confirm", url.Values{"answer": {"yes"}}, "/pair")
	done := regexp.MustCompile(`id="pair-result">Paired with [^<]*`)
	until(t, a, "/pair", done)
	until(t, b, "/pair", done)
	until(t, a, "/devices", regexp.MustCompile(`Sam&#39;s devices|Sam's devices`))

	// Sam's page listens; Alex proposes: it arrives on Sam's device live.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", b.base+"/events", nil)
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	a.do("/boundaries/propose", url.Values{"text": {"I tell you when my plans change"}}, "/boundaries")
	for {
		d := event(t, lines)
		if strings.Contains(d, "boundaries") || d == "all" {
			if _, body := b.get("/boundaries"); strings.Contains(body, "I tell you when my plans change") {
				break
			}
		}
	}

	// Alex unpairs Sam's device from the devices page.
	samDevice := sam.current().sp.Self().DeviceID
	if _, body := a.get("/devices"); !strings.Contains(body, `id="unpair-`+samDevice+`"`) {
		t.Fatalf("no unpair button for Sam's device:\n%s", body)
	}
	body = a.do("/devices/unpair", url.Values{"id": {samDevice}}, "/devices")
	if !strings.Contains(body, "Unpaired.") || !strings.Contains(body, "unpaired just now") || strings.Contains(body, `id="unpair-`+samDevice+`"`) {
		t.Fatalf("after unpairing:\n%s", body)
	}
}

// TestServer_PairRefusedOnThePage: a "no" on one side pairs nothing.
func TestServer_PairRefusedOnThePage(t *testing.T) {
	ka, kb := keeper(t), keeper(t)
	alex := startOnline(t, newHome(t, "Alex", false, ka), ka)
	sam := startOnline(t, newHome(t, "Sam", false, kb), kb)
	a, b := login(t, alex), login(t, sam)
	a.do("/pair/invite", nil, "/pair")
	invite := until(t, a, "/pair", regexp.MustCompile(`(?s)id="invite-text" readonly rows="4" spellcheck="false">(.*?)</textarea>`))
	b.do("/pair/join", url.Values{"invite": {invite}}, "/pair")
	codeRE := regexp.MustCompile(`id="pair-code"[^>]*>([0-9]{6})<`)
	until(t, a, "/pair", codeRE)
	until(t, b, "/pair", codeRE)
	b.do("/pair/confirm", url.Values{"answer": {"no"}}, "/pair")
	a.do("/pair/confirm", url.Values{"answer": {"yes"}}, "/pair")
	failed := regexp.MustCompile(`class="error" id="pair-result">Not paired[^<]*`)
	until(t, a, "/pair", failed)
	until(t, b, "/pair", failed)
	if _, body := a.get("/devices"); strings.Contains(body, "Sam") {
		t.Errorf("refused pairing left Sam's device on Alex's page")
	}
}
