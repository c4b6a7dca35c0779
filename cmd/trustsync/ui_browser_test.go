package main

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The browser tests drive `trustsync ui` as a person does: real
// processes on real homes, each page in headless Chromium. This file holds
// what they share: the browser, a tab per device with its own cookies,
// the accessibility check, screenshots and the watch on every request a
// page makes.

// axeSource is axe-core (see testdata/axe/README.md). The page's
// Content-Security-Policy forbids injected scripts, so it is evaluated
// through the DevTools protocol, which the policy does not govern.
//
//go:embed testdata/axe/axe.min.js
var axeSource string

// Two screen sizes every main page is checked at: a phone held upright
// and a small laptop.
var (
	phone   = viewport{"phone", 390, 844}
	desktop = viewport{"desktop", 1280, 800}
)

type viewport struct {
	name          string
	width, height int64
}

// chromiumPath finds Chromium. Without it the browser tests cannot run:
// they are skipped on a developer's machine and fail in CI, which installs
// it (.ci/run), so that they never pass there by not running.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "Chromium is not installed, so the browser tests of 'trustsync ui' cannot run (apt-get install chromium; .ci/run installs it)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startBrowser starts one headless Chromium for a test and its subtests,
// in a fresh profile, with nothing of its own that reaches the network
// (no background networking, component updates, sync or first-run
// pages). It runs as root here, hence without its sandbox.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication"),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("safebrowsing-disable-auto-update", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.WindowSize(int(desktop.width), int(desktop.height)),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first action starts the browser, bound to the context it runs
	// with: bctx itself, not one with a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", exe, err)
	}
	return bctx
}

// uiProc is a running `trustsync ui --no-open` on one home.
type uiProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:PORT, no slash at the end
	url  string // the URL it printed, with its one-time secret
	errb *lockedBuffer
}

var uiURL = regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+/\S*`)

// startUI starts `trustsync ui --no-open` on home and waits for the URL it
// prints. The process is killed when the test ends.
func startUI(t *testing.T, home string, env ...string) *uiProc {
	t.Helper()
	cmd := fltCmd(t, home, nil, "ui", "--no-open")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &uiProc{cmd: cmd, errb: &lockedBuffer{}}
	cmd.Stderr = p.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kill(cmd) })
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(out)
		sent := false
		for lines.Scan() {
			if m := uiURL.FindString(lines.Text()); m != "" && !sent {
				found <- m
				sent = true
			}
		}
		if !sent {
			close(found)
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			_ = cmd.Wait()
			t.Fatalf("trustsync ui on %s printed no URL and ended: %s", home, p.errb.String())
		}
		pu, err := url.Parse(u)
		if err != nil {
			t.Fatalf("trustsync ui printed %q: %v", u, err)
		}
		p.url = u
		p.base = "http://" + pu.Host
	case <-time.After(60 * time.Second):
		t.Fatalf("trustsync ui on %s printed no URL within 60s: %s", home, p.errb.String())
	}
	return p
}

// tab is one person's browser: a browser context of its own (cookies are
// kept per host, not per port, so two devices' pages on 127.0.0.1 must not
// share a cookie jar), one tab in it, and a watch on what the page does:
// every request's address, console errors (a refused inline style or
// script shows there) and uncaught exceptions.
type tab struct {
	t    *testing.T
	name string
	ctx  context.Context
	base string
	host string

	status int64 // of the page the last press or Enter led to

	mu       sync.Mutex
	offHost  []string // requests to anywhere but base
	problems []string // console errors and exceptions
}

// newTab opens a tab in a new browser context of the browser bctx and
// signs it in to the ui at p by opening the URL with the secret.
func newTab(t *testing.T, bctx context.Context, name string, p *uiProc) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, name: name, ctx: ctx, base: p.base, host: strings.TrimPrefix(p.base, "http://")}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request == nil {
				return
			}
			u, err := url.Parse(ev.Request.URL)
			if err == nil && (u.Scheme == "data" || u.Scheme == "about") {
				return
			}
			if err != nil || u.Scheme != "http" || u.Host != tb.host {
				tb.mu.Lock()
				tb.offHost = append(tb.offHost, ev.Request.URL)
				tb.mu.Unlock()
			}
		case *network.EventResponseReceived:
			// A page answered 4xx is a refused form, shown as such;
			// anything else the page loads must be there.
			if ev.Response != nil && ev.Response.Status >= 400 && ev.Type != network.ResourceTypeDocument {
				tb.mu.Lock()
				tb.problems = append(tb.problems, fmt.Sprintf("%s answered %d", ev.Response.URL, ev.Response.Status))
				tb.mu.Unlock()
			}
		case *cdplog.EventEntryAdded:
			// The console's line for a failed load is covered above.
			if ev.Entry != nil && ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source != cdplog.EntrySourceNetwork {
				tb.mu.Lock()
				tb.problems = append(tb.problems, fmt.Sprintf("console (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
				tb.mu.Unlock()
			}
		case *runtime.EventExceptionThrown:
			if ev.ExceptionDetails != nil {
				msg := ev.ExceptionDetails.Text
				if ev.ExceptionDetails.Exception != nil && ev.ExceptionDetails.Exception.Description != "" {
					msg += ": " + ev.ExceptionDetails.Exception.Description
				}
				tb.mu.Lock()
				tb.problems = append(tb.problems, "exception: "+msg)
				tb.mu.Unlock()
			}
		}
	})
	if err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	tb.do(chromedp.Navigate(p.url))
	if loc := tb.location(); strings.Contains(loc, "?") {
		t.Errorf("%s: after signing in the address still has a query: %s (the secret should be exchanged for a cookie and left out)", name, loc)
	}
	return tb
}

// ok fails the test with what the page did that it should not: a request
// off this device's address, a console error or an exception.
func (tb *tab) ok() {
	tb.t.Helper()
	tb.mu.Lock()
	off, problems := tb.offHost, tb.problems
	tb.offHost, tb.problems = nil, nil
	tb.mu.Unlock()
	for _, u := range off {
		tb.t.Errorf("%s: the page made a request off %s: %s", tb.name, tb.host, u)
	}
	for _, p := range problems {
		tb.t.Errorf("%s: %s", tb.name, p)
	}
}

// do runs actions in the tab, each within 30 seconds, failing the test on
// an error.
func (tb *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatalf("%s on %s: %v", tb.name, tb.location(), err)
	}
}

// eval evaluates a JavaScript expression in the page and returns its value
// as a string.
func (tb *tab) eval(js string) string {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		tb.t.Fatalf("%s: evaluate %s: %v", tb.name, js, err)
	}
	return v
}

func (tb *tab) location() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "(unknown page)"
	}
	return loc
}

// open goes to path (such as "/boundaries") and waits for the page.
func (tb *tab) open(path string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base+path), chromedp.WaitReady(chromedp.CSS("body")))
}

// text is the visible text of the whole page.
func (tb *tab) text() string {
	tb.t.Helper()
	return tb.eval(`document.body.innerText`)
}

// shown is the visible text of the page's live parts (the lists that
// change as either person writes), or of the whole page when it has none:
// not the forms' hints and examples.
func (tb *tab) shown() string {
	tb.t.Helper()
	return tb.eval(`(() => { const ps = document.querySelectorAll("[data-part]");
		return ps.length ? [...ps].map(p => p.innerText).join("\n") : document.body.innerText; })()`)
}

// waitText waits up to d until the page's live parts show want (in any
// case), without reloading it; it fails the test with the text they had.
func (tb *tab) waitText(want string, d time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := tb.shown()
		if containsFold(got, want) {
			return
		}
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: after %v the page %s does not show %q; it shows:\n%s", tb.name, d, tb.location(), want, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// has reports whether the page's visible text contains s.
func (tb *tab) has(s string) bool {
	tb.t.Helper()
	return containsFold(tb.text(), s)
}

// containsFold reports whether s contains substr, whatever the case of
// their letters: the tests look for words, not for where a sentence
// starts.
func containsFold(s, substr string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(substr))
}

// fill sets the value of the form field sel, as typing it would, and
// fires its input event.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.SetValue(chromedp.CSS(sel), value))
}

// press clicks the button sel and waits for the page it leads to; its
// HTTP status is then in tb.status (a refused form answers 4xx and shows
// why, which the caller checks).
func (tb *tab) press(sel string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		tb.t.Fatalf("%s: press %s on %s: %v", tb.name, sel, tb.location(), err)
	}
	tb.status = 0
	if resp != nil {
		tb.status = resp.Status
	}
}

// markPage marks the page in memory; marked says whether the mark is
// still there, that is, whether the page was not loaded again since.
func (tb *tab) markPage() {
	tb.t.Helper()
	tb.eval(`(window.__trustsyncTestMark = "kept", "")`)
}

func (tb *tab) marked() bool {
	tb.t.Helper()
	return tb.eval(`String(window.__trustsyncTestMark)`) == "kept"
}

// setViewport sets the tab's screen to v.
func (tb *tab) setViewport(v viewport) {
	tb.t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if v.width < 600 {
		opts = append(opts, chromedp.EmulatePortrait, chromedp.EmulateMobile)
	}
	tb.do(chromedp.EmulateViewport(v.width, v.height, opts...))
}

// colorScheme makes the page see prefers-color-scheme as scheme ("light"
// or "dark"), with no preference about motion.
func (tb *tab) colorScheme(scheme string) {
	tb.t.Helper()
	tb.media(scheme, "no-preference")
}

// media makes the page see prefers-color-scheme as scheme and
// prefers-reduced-motion as motion ("reduce" or "no-preference").
func (tb *tab) media(scheme, motion string) {
	tb.t.Helper()
	tb.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{
				{Name: "prefers-color-scheme", Value: scheme},
				{Name: "prefers-reduced-motion", Value: motion},
			},
		})
		return err
	}))
}

// moving lists the elements of the page that move: a transition or an
// animation that takes time.
func (tb *tab) moving() string {
	tb.t.Helper()
	return tb.eval(`[...document.querySelectorAll("*")].filter(e => {
		const s = getComputedStyle(e);
		const long = v => v.split(",").some(d => parseFloat(d) > 0);
		return long(s.transitionDuration) || (s.animationName !== "none" && long(s.animationDuration));
	}).map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + e.className : "")).join(" ")`)
}

// screenshotDir is where the tests leave screenshots for a person to look
// at: $TRUSTSYNC_SCREENSHOTS when set, else a directory of the test's own
// that is removed when it ends (its path is logged).
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("TRUSTSYNC_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshots in %s", d)
		return d
	}
	d := filepath.Join(t.TempDir(), "screenshots")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s (removed at the end; set TRUSTSYNC_SCREENSHOTS=DIR to keep them)", d)
	return d
}

// screenshot saves the whole page, as it is at the current size, as
// DIR/NAME.png.
func (tb *tab) screenshot(dir, name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		tb.t.Fatalf("%s: screenshot of %s: %v", tb.name, tb.location(), err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// axeViolation is what axe-core reports of one rule a page breaks.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// axe runs axe-core on the page as it is and fails the test on every
// violation of impact serious or critical, printing the rule, the
// elements and the help. Lesser findings are logged.
func (tb *tab) axe(what string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 60*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === "object"`))
	if err != nil {
		tb.t.Fatalf("%s: %v", tb.name, err)
	}
	if !loaded {
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](axeSource)); err != nil {
			tb.t.Fatalf("%s: load axe-core into %s: %v", tb.name, tb.location(), err)
		}
	}
	vs, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations)`, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("%s: axe-core on %s: %v", tb.name, tb.location(), err)
	}
	for _, v := range vs {
		var targets []string
		for _, n := range v.Nodes {
			targets = append(targets, fmt.Sprint(n.Target...))
		}
		msg := fmt.Sprintf("%s: %s: axe %s (%s): %s\n    at %s", tb.name, what, v.ID, v.Impact, v.Help, strings.Join(targets, "\n    at "))
		if v.Impact == "serious" || v.Impact == "critical" {
			if len(v.Nodes) > 0 && v.Nodes[0].Summary != "" {
				msg += "\n    " + strings.ReplaceAll(v.Nodes[0].Summary, "\n", "\n    ")
			}
			tb.t.Error(msg)
		} else {
			tb.t.Log(msg)
		}
	}
}

// pageCheck looks at the page at path at each screen size, and at
// desktop width in the dark colour scheme too: axe-core finds no serious
// or critical violation, the page is no wider than the screen (nothing to
// scroll sideways on a phone), and a screenshot is saved as
// NAME-SIZE.png (and NAME-desktop-dark.png); and with reduced motion
// asked for, nothing on it moves. The page is loaded once;
// the screen and the scheme change under it, as they do when a phone
// turns or the system switches to dark.
func (tb *tab) pageCheck(dir, name, path string) {
	tb.t.Helper()
	tb.setViewport(phone)
	tb.colorScheme("light")
	tb.open(path)
	for _, c := range []struct {
		v      viewport
		scheme string
	}{{phone, "light"}, {desktop, "light"}, {desktop, "dark"}} {
		tb.setViewport(c.v)
		tb.colorScheme(c.scheme)
		what := fmt.Sprintf("%s at %s width (%s)", path, c.v.name, c.scheme)
		tb.axe(what)
		if w, err := strconv.Atoi(tb.eval(`String(document.documentElement.scrollWidth)`)); err != nil || int64(w) > c.v.width {
			tb.t.Errorf("%s: %s is %d pixels wide, wider than the screen's %d: a reader must scroll sideways", tb.name, what, w, c.v.width)
		}
		file := name + "-" + c.v.name
		if c.scheme == "dark" {
			file += "-dark"
		}
		tb.screenshot(dir, file)
	}
	// Whoever asks for less motion gets none.
	tb.media("light", "reduce")
	if m := tb.moving(); m != "" {
		tb.t.Errorf("%s: %s with prefers-reduced-motion: reduce still moves: %s", tb.name, path, m)
	}
	tb.colorScheme("light")
	tb.ok()
}

// The keyboard: a person who uses no mouse moves with Tab and Shift+Tab,
// types into the field that has focus and presses Enter or Space.

// key presses keys (see chromedp.KeyEvent: "\t" is Tab, "\r" Enter, " "
// Space) on whatever has focus.
func (tb *tab) key(keys string, opts ...chromedp.KeyOption) {
	tb.t.Helper()
	tb.do(chromedp.KeyEvent(keys, opts...))
}

// focused describes the element that has focus: its tag, id and name, as
// "input#boundary-text[name=text]".
func (tb *tab) focused() string {
	tb.t.Helper()
	return tb.eval(`(() => { const e = document.activeElement; if (!e || e === document.body) return "body";
		let s = e.tagName.toLowerCase(); if (e.id) s += "#" + e.id; if (e.name) s += "[name=" + e.name + "]"; return s; })()`)
}

// tabTo presses Tab until the element sel has focus, at most 80 times,
// and fails the test if it never does. Each element reached on the way
// must show that it has focus (an outline or a box shadow).
func (tb *tab) tabTo(sel string) {
	tb.t.Helper()
	var path []string
	for range 80 {
		tb.key(kb.Tab)
		if tb.eval(`String(document.activeElement === document.querySelector(`+strconv.Quote(sel)+`))`) == "true" {
			tb.checkFocusVisible()
			return
		}
		f := tb.focused()
		path = append(path, f)
		if f != "body" {
			tb.checkFocusVisible()
		}
	}
	tb.t.Fatalf("%s: 80 presses of Tab on %s never reach %s; they reach %s", tb.name, tb.location(), sel, strings.Join(path, " "))
}

// checkFocusVisible fails the test when the focused element looks the
// same as it does without focus: no outline and no box shadow.
func (tb *tab) checkFocusVisible() {
	tb.t.Helper()
	v := tb.eval(`(() => { const s = getComputedStyle(document.activeElement);
		const outline = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0;
		const shadow = s.boxShadow && s.boxShadow !== "none";
		return String(outline || shadow); })()`)
	if v != "true" {
		tb.t.Errorf("%s: %s has focus on %s but shows no focus ring (no outline, no box shadow)", tb.name, tb.focused(), tb.location())
	}
}

// typeText types s, key by key, into the element that has focus.
func (tb *tab) typeText(s string) {
	tb.t.Helper()
	tb.key(s)
}

// enter presses Enter on the focused element and waits for the page it
// leads to.
func (tb *tab) enter() {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent(kb.Enter))
	if err != nil {
		tb.t.Fatalf("%s: Enter on %s: %v", tb.name, tb.location(), err)
	}
	tb.status = 0
	if resp != nil {
		tb.status = resp.Status
	}
}
