package main

import (
	"bufio"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUI_ServesItsPrintedURL runs 'trustsync ui --no-open' as a process
// of its own: it prints a URL on 127.0.0.1 with a secret, the URL logs a
// browser in, a form posted from the page is saved in the home where the
// command line reads it, and an interrupt stops it cleanly.
func TestUI_ServesItsPrintedURL(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alex")
	fltInit(t, home, "alex")
	cmd := fltCmd(t, home, nil, "ui", "--no-open")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb lockedBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	first := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		if lines.Scan() {
			first <- lines.Text()
		} else {
			first <- ""
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	var printed string
	select {
	case printed = <-first:
	case <-time.After(30 * time.Second):
		t.Fatalf("ui printed no URL within 30s: %s", errb.String())
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+/login\?secret=[A-Za-z0-9_-]{40,}$`).MatchString(printed) {
		t.Fatalf("ui printed %q, want a URL on 127.0.0.1 with a secret (stderr: %s)", printed, errb.String())
	}
	u, _ := url.Parse(printed)
	base := "http://" + u.Host

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	if resp, err := http.Get(base + "/"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET / without the secret: %v %v, want 401", resp.Status, err)
	}
	resp, err := c.Get(printed)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != base+"/" || !strings.Contains(string(body), "<h1>Today</h1>") {
		t.Fatalf("the printed URL led to %s %s:\n%s", resp.Request.URL, resp.Status, body)
	}
	resp, err = c.Get(base + "/boundaries")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no form on the boundaries page:\n%s", body)
	}
	form := url.Values{"csrf": {string(m[1])}, "text": {"I tell you when my plans change"}}
	req, _ := http.NewRequest("POST", base+"/boundaries/propose", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/boundaries") {
		t.Fatalf("propose: %s at %s", resp.Status, resp.Request.URL)
	}

	// ui holds the home's network lock, as serve does.
	if _, stderr, code := fltRun(t, home, nil, "serve"); code != 1 || !strings.Contains(stderr, "'trustsync ui' already runs for this home") {
		t.Errorf("serve beside ui: exit %d: %s", code, stderr)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Fatalf("ui after an interrupt: %v: %s", err, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ui did not stop within 30s of an interrupt: %s", errb.String())
	}
	// The home is free again, and holds what the page wrote.
	listed, stderr, code := fltRun(t, home, nil, "boundary", "list")
	if code != 0 || !strings.Contains(listed, "I tell you when my plans change") {
		t.Fatalf("boundary list after ui: exit %d: %s%s", code, listed, stderr)
	}
}
