package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// live is how long a change made on one device may take to show on the
// other device's open page: sync between the two nodes on 127.0.0.1, then
// the page's live refresh.
const live = 30 * time.Second

// alicePass is the passphrase of Alice's encrypted home.
const alicePass = "correct horse battery"

// uiHomes makes the two homes of the browser tests, Alice's encrypted and
// locked, Bob's not, each with its own runtime directory and no keyring,
// and returns the environment each device's commands run with.
func uiHomes(t *testing.T) (homeA, homeB string, envA, envB []string) {
	t.Helper()
	dir := t.TempDir()
	homeA, homeB = filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	for _, d := range []string{"run-alice", "run-bob"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	envA = []string{"TRUSTSYNC_KEYRING=off", "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run-alice"), "TRUSTSYNC_TEST_KDF=fast"}
	envB = []string{"TRUSTSYNC_KEYRING=off", "XDG_RUNTIME_DIR=" + filepath.Join(dir, "run-bob"), "TRUSTSYNC_TEST_KDF=fast"}
	run := func(home string, env []string, args ...string) {
		t.Helper()
		cmd := fltCmd(t, home, nil, args...)
		cmd.Env = append(cmd.Env, env...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("trustsync %s: %v: %s", strings.Join(args, " "), err, errb.String())
		}
	}
	run(homeA, append(envA[:len(envA):len(envA)], "TRUSTSYNC_PASSPHRASE="+alicePass),
		"init", "--name", "Alice", "--device", "alice-laptop", "--encrypt", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	run(homeA, envA, "lock")
	run(homeB, envB, "init", "--name", "Bob", "--device", "bob-phone", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
	return homeA, homeB, envA, envB
}

// pick finds the element sel inside the smallest card, list item or
// section whose visible text contains text, and returns a selector for
// it; the test fails when there is none.
func (tb *tab) pick(text, sel string) string {
	tb.t.Helper()
	js := fmt.Sprintf(`(() => {
		const want = %s, sel = %s;
		let best = null, bestLen = Infinity;
		for (const el of document.querySelectorAll(sel)) {
			for (let c = el.parentElement; c; c = c.parentElement) {
				if (!c.matches("article, li, .card, section, fieldset, form, details")) continue;
				if (!c.innerText.includes(want)) continue;
				if (c.innerText.length < bestLen) { best = el; bestLen = c.innerText.length; }
				break;
			}
		}
		if (!best) return "";
		// A path from the nearest element with an id, leaving the page as
		// it is: a live refresh may replace the part with a fresh copy,
		// which has the same ids.
		const steps = [];
		let e = best;
		// (getAttribute: a form's "id" property is its field named id.)
		for (; e.parentElement && !e.getAttribute("id"); e = e.parentElement) {
			const same = [...e.parentElement.children].filter(c => c.tagName === e.tagName);
			steps.unshift(e.tagName.toLowerCase() + ":nth-of-type(" + (same.indexOf(e) + 1) + ")");
		}
		steps.unshift(e.getAttribute("id") ? "#" + CSS.escape(e.getAttribute("id")) : e.tagName.toLowerCase());
		return steps.join(" > ");
	})()`, strconv.Quote(text), strconv.Quote(sel))
	got := tb.eval(js)
	if got == "" {
		tb.t.Fatalf("%s: no %s near %q on %s; the page shows:\n%s", tb.name, sel, text, tb.location(), tb.text())
	}
	return got
}

// flash is the message the page shows after a change ("" when none), and
// problem the one-line error it shows ("" when none).
func (tb *tab) flash() string {
	tb.t.Helper()
	return tb.eval(`(document.getElementById("flash") || {innerText: ""}).innerText`)
}

func (tb *tab) problem() string {
	tb.t.Helper()
	return tb.eval(`(document.getElementById("error") || {innerText: ""}).innerText`)
}

// submitted checks that the last form sent was taken: a page that is not
// an error, with a message and no refusal.
func (tb *tab) submitted(what string) {
	tb.t.Helper()
	if p := tb.problem(); p != "" || tb.status >= 400 {
		tb.t.Fatalf("%s: %s: the page answered %d and says %q", tb.name, what, tb.status, p)
	}
	if tb.flash() == "" {
		tb.t.Errorf("%s: %s: the page says nothing after it (no message of what was done)", tb.name, what)
	}
}

// TestUI_Browser runs two paired devices' `trustsync ui`, each in a
// browser profile of its own (of one headless Chromium), and goes through what the pages offer as two people would:
// unlock, pairing, every kind of shared item with the partner's page
// updating live, the journal, devices and lock; one flow with the keyboard
// alone; and the accessibility check of every main page at phone and
// desktop width, with screenshots. Its steps build on each other: run the
// whole test (-run 'TestUI_Browser$'), not one step.
func TestUI_Browser(t *testing.T) {
	bctx := startBrowser(t)
	shots := screenshotDir(t)
	homeA, homeB, envA, envB := uiHomes(t)
	pa, pb := startUI(t, homeA, envA...), startUI(t, homeB, envB...)
	alice, bob := newTab(t, bctx, "Alice", pa), newTab(t, bctx, "Bob", pb)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Alice's trustsync ui said:\n%s", pa.errb.String())
			t.Logf("Bob's trustsync ui said:\n%s", pb.errb.String())
		}
	})

	step := func(name string, fn func(t *testing.T)) {
		t.Helper()
		if !t.Run(name, func(t *testing.T) {
			alice.t, bob.t = t, t
			fn(t)
			alice.ok()
			bob.ok()
		}) {
			t.FailNow() // the later steps build on this one
		}
		alice.t, bob.t = t, t
	}

	step("unlock", func(t *testing.T) {
		// A locked home shows the unlock page, whatever is asked for.
		alice.open("/boundaries")
		if alice.eval(`document.body.dataset.page`) != "unlock" || !alice.has("locked") {
			t.Fatalf("Alice's locked home shows %s:\n%s", alice.location(), alice.text())
		}
		if n := alice.eval(`String(document.querySelectorAll("nav a").length)`); n != "0" {
			t.Errorf("the unlock page shows %s navigation links; a locked home shows nothing but unlock", n)
		}
		alice.pageCheck(shots, "unlock", "/")
		alice.fill("#unlock-passphrase", "not the passphrase")
		alice.press("#unlock-form button[type=submit]")
		if alice.problem() == "" || strings.Contains(alice.problem(), "\n") {
			t.Errorf("a wrong passphrase shows %q, want one line saying it is wrong", alice.problem())
		}
		alice.fill("#unlock-passphrase", alicePass)
		alice.press("#unlock-form button[type=submit]")
		alice.submitted("unlock")
		if alice.eval(`document.body.dataset.page`) == "unlock" {
			t.Fatalf("after the right passphrase Alice still sees the unlock page:\n%s", alice.text())
		}
	})

	step("another page cannot post", func(t *testing.T) {
		// Another web page on this machine -- another port of 127.0.0.1,
		// so the same site, and Alice's cookie goes along -- opened in
		// Alice's browser sends a form to her page, even with her form
		// token: once naming its origin, once hiding it as a page with
		// Referrer-Policy no-referrer does ("Origin: null"). Both are
		// refused, and nothing is written.
		alice.open("/boundaries")
		token := alice.eval(`document.querySelector("input[name=csrf]").value`)
		for _, policy := range []string{"strict-origin-when-cross-origin", "no-referrer"} {
			page := fmt.Sprintf(`<!doctype html><title>another page</title>
<form method="post" action="%s/boundaries/propose"><input type="hidden" name="csrf" value="%s"><input type="hidden" name="text" value="Planted by another page (%s)"></form>
<script>document.forms[0].submit()</script>`, html.EscapeString(pa.base), html.EscapeString(token), policy)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.Header().Set("Referrer-Policy", policy)
				fmt.Fprint(w, page)
			})}
			go func() { _ = srv.Serve(ln) }()
			other, cancel := chromedp.NewContext(alice.ctx) // a tab of Alice's profile
			ctx, cancelT := context.WithTimeout(other, 30*time.Second)
			// The page sends its form as it loads: wait for the answer.
			answered := chromedp.Events(ctx, network.ResponseReceived)
			if err := chromedp.Do(ctx, chromedp.Navigate("http://"+ln.Addr().String()+"/")); err != nil {
				t.Fatal(err)
			}
			for ev, err := range answered {
				if err != nil {
					t.Fatalf("%s: no answer to the other page's form: %v", policy, err)
				}
				if ev.Response != nil && strings.HasPrefix(ev.Response.URL, pa.base) {
					if ev.Response.Status != http.StatusForbidden {
						t.Errorf("a form sent to Alice's page from another page (%s): %d, want 403", policy, ev.Response.Status)
					}
					break
				}
			}
			cancelT()
			cancel()
			srv.Close()
		}
		alice.open("/boundaries")
		if alice.has("Planted by another page") {
			t.Errorf("the other page's boundary was written:\n%s", alice.shown())
		}
	})

	step("pair", func(t *testing.T) {
		alice.open("/")
		if !alice.has("Not paired") {
			t.Errorf("before pairing Today should say so; it shows:\n%s", alice.text())
		}
		alice.open("/pair")
		alice.press("#invite-form button[type=submit]")
		alice.submitted("make an invite")
		if alice.eval(`String(!!document.querySelector(".qr-box svg"))`) != "true" {
			t.Errorf("the invite shows no QR code (an inline SVG):\n%s", alice.text())
		}
		invite := alice.eval(`document.getElementById("invite-text").value`)
		if invite == "" {
			t.Fatalf("the pairing page shows no invite text:\n%s", alice.text())
		}
		alice.screenshot(shots, "pair-invite")
		bob.open("/pair")
		bob.fill("#join-invite", invite)
		bob.press("#join-form button[type=submit]")
		if p := bob.problem(); p != "" {
			t.Fatalf("joining says %q", p)
		}
		// Both pages show the same code, live, and both people confirm.
		codeOf := func(tb *tab) string {
			tb.waitSel("#pair-code", live)
			return strings.TrimSpace(tb.eval(`document.getElementById("pair-code").innerText`))
		}
		ca, cb := codeOf(alice), codeOf(bob)
		if ca == "" || ca != cb {
			t.Fatalf("confirmation codes differ: Alice sees %q, Bob %q", ca, cb)
		}
		alice.screenshot(shots, "pair-code")
		alice.axe("/pair showing the invite and the code")
		bob.axe("/pair joining, showing the code")
		alice.press("#pair-yes")
		bob.press("#pair-yes")
		for _, tb := range []*tab{alice, bob} {
			tb.waitSel("#pair-result", live)
			if tb.eval(`document.getElementById("pair-result").className`) == "error" {
				t.Fatalf("%s: pairing failed: %s", tb.name, tb.eval(`document.getElementById("pair-result").innerText`))
			}
			tb.press("#pair-cancel")
		}
		alice.open("/devices")
		alice.waitText("bob-phone", live)
		alice.waitText("syncing now", live)
		bob.open("/devices")
		bob.waitText("alice-laptop", live)
	})

	step("boundaries", func(t *testing.T) {
		const words = "I tell you before I make plans for our evenings."
		bob.open("/boundaries")
		bob.markPage()
		alice.open("/boundaries")
		alice.fill("#propose-text", words)
		alice.press("#propose-form button[type=submit]")
		alice.submitted("propose")
		if !alice.has(words) || !alice.has("waiting for you and Bob") {
			t.Errorf("Alice's boundary list after proposing:\n%s", alice.text())
		}
		// Bob's open page shows it without a reload; he agrees to the
		// words shown, and Alice's page says so.
		bob.waitText(words, live)
		if !bob.marked() {
			t.Errorf("Bob's page was loaded again to show the boundary; it should update in place")
		}
		alice.markPage()
		bob.press(bob.pick(words, `form[action="/boundaries/agree"] button`))
		bob.submitted("agree")
		alice.waitText("agreed by Bob", live)
		if !alice.marked() {
			t.Errorf("Alice's page was loaded again; it should update in place")
		}
		alice.press(alice.pick(words, `form[action="/boundaries/agree"] button`))
		bob.waitText("agreed by both", live)

		// New words: the agreements no longer count, on both pages.
		const changed = "I tell you before I make plans for our evenings, a day ahead."
		alice.do(chromedp.Click(chromedp.CSS(alice.pick(words, "details summary"))))
		// Bob's new boundary shows on Alice's page while she has the
		// words open to change; they stay open.
		bob.fill("#propose-text", "I ask before I borrow the car.")
		bob.press("#propose-form button[type=submit]")
		bob.submitted("propose")
		alice.waitText("I ask before I borrow the car.", live)
		if alice.eval(`String(document.querySelector(`+strconv.Quote(alice.pick(words, "details"))+`).open)`) != "true" {
			t.Errorf("a live update closed the \"Change the words\" Alice had opened")
		}
		alice.fill(alice.pick(words, `form[action="/boundaries/edit"] textarea`), changed)
		alice.press(alice.pick(words, `form[action="/boundaries/edit"] button`))
		alice.submitted("edit")
		bob.waitText(changed, live)
		if bob.has("agreed by both") {
			t.Errorf("after new words Bob's page still says they are agreed by both:\n%s", bob.text())
		}
		bob.press(bob.pick(changed, `form[action="/boundaries/agree"] button`))
		alice.waitText("agreed by Bob", live)

		// Archive and restore.
		alice.press(alice.pick(changed, `form[action="/boundaries/archive"] button`))
		alice.submitted("archive")
		bob.waitText("Archived", live)
		alice.press(alice.pick(changed, `form[action="/boundaries/restore"] button`))
		alice.submitted("restore")

		// Words with a bidirectional override are refused in one line,
		// and the form keeps what was typed.
		const bidi = "I keep my word \u202egnp.exe"
		alice.fill("#propose-text", bidi)
		alice.press("#propose-form button[type=submit]")
		if p := alice.problem(); p == "" || strings.Contains(p, "\n") {
			t.Errorf("a boundary with a bidi override: the page says %q, want one line saying why it is refused", p)
		}
		if got := alice.eval(`document.getElementById("propose-text").value`); got != bidi {
			t.Errorf("after the refusal the form holds %q, want what was typed, %q", got, bidi)
		}
		// Markup is shown as text, never run.
		const hostile = "I keep <b>my</b> word <script>document.title='x'</script>"
		alice.open("/boundaries")
		alice.fill("#propose-text", hostile)
		alice.press("#propose-form button[type=submit]")
		alice.submitted("propose markup")
		bob.waitText(hostile, live)
		if bob.eval(`String(document.querySelectorAll("#boundaries-part b, #boundaries-part script").length)`) != "0" {
			t.Errorf("the boundary's markup made elements on Bob's page")
		}
	})

	step("goals", func(t *testing.T) {
		const title = "Walk together on Sundays"
		bob.open("/goals")
		alice.open("/goals")
		alice.fill("#goal-title", title)
		alice.fill("#goal-why", "We talk best while walking.")
		alice.press("#goal-form button[type=submit]")
		alice.submitted("add a goal")
		for _, s := range []string{"Choose a route", "Put it in the calendar"} {
			alice.fill(alice.pick(title, `form[action="/goals/step"] input[name=text]`), s)
			alice.press(alice.pick(title, `form[action="/goals/step"] button`))
			alice.submitted("add a step")
		}
		bob.waitText("Put it in the calendar", live)
		bob.waitText("0 of 2 steps done", live)
		alice.press(alice.pick("Choose a route", `form[action="/goals/done"] button`))
		alice.submitted("mark a step done")
		bob.waitText("1 of 2 steps done", live)
		alice.press(alice.pick("Put it in the calendar", `form[action="/goals/done"] button`))
		bob.waitText("every step done", live)
		bob.press(bob.pick(title, `form[action="/goals/done"] button[aria-describedby$="-title"]`))
		bob.submitted("mark the goal done")
		alice.waitText("Done", live)
	})

	step("check-in", func(t *testing.T) {
		const note = "I feel hopeful when we plan the week together."
		bob.open("/checkins")
		alice.open("/checkins")
		alice.do(chromedp.Click(chromedp.CSS("#mood-4")))
		alice.do(chromedp.Click(chromedp.CSS(alice.pick("Feelings you notice", `input[type=checkbox]`))))
		alice.fill("#checkin-feeling-other", "rested")
		alice.fill("#checkin-note", note)
		alice.fill("#checkin-needs", "Ten quiet minutes after work")
		alice.press("#checkin-form button[type=submit]")
		alice.submitted("check in")
		bob.waitText(note, live)
		bob.waitText("rested", live)
		bob.fill(bob.pick(note, `form[action="/checkins/ack"] input[name=reply]`), "Thank you for telling me.")
		bob.press(bob.pick(note, `form[action="/checkins/ack"] button`))
		bob.submitted("acknowledge")
		alice.waitText("Thank you for telling me.", live)
	})

	step("commitments", func(t *testing.T) {
		const words = "I text you when I leave work."
		bob.open("/commitments")
		alice.open("/commitments")
		alice.fill("#commitment-text", words)
		alice.press("#commitment-form button[type=submit]")
		alice.submitted("commit")
		bob.waitText(words, live)
		alice.do(chromedp.Click(chromedp.CSS(alice.pick(words, `input[value=kept]`))))
		alice.fill(alice.pick(words, `form[action="/commitments/record"] input[name=note]`), "Called at six.")
		alice.press(alice.pick(words, `form[action="/commitments/record"] button`))
		alice.submitted("kept")
		bob.waitText("Called at six.", live)
		bob.fill(bob.pick("Called at six.", `form[action="/commitments/ack"] input[name=reply]`), "It helped.")
		bob.press(bob.pick("Called at six.", `form[action="/commitments/ack"] button`))
		bob.submitted("acknowledge kept")
		alice.waitText("It helped.", live)
		alice.do(chromedp.Click(chromedp.CSS(alice.pick(words, `input[value=missed]`))))
		alice.press(alice.pick(words, `form[action="/commitments/record"] button`))
		alice.submitted("missed")
		bob.waitText("Missed", live)
	})

	step("apology", func(t *testing.T) {
		bob.open("/apologies")
		alice.open("/apologies")
		parts := map[string]string{
			"#apology-happened":       "I came home two hours late without calling.",
			"#apology-impact":         "You waited and worried all evening.",
			"#apology-responsibility": "I chose not to call; that was mine.",
			"#apology-different":      "I call before seven whenever I am late.",
		}
		for sel, v := range parts {
			alice.fill(sel, v)
		}
		alice.press("#apology-form button[type=submit]")
		alice.submitted("apologise")
		for _, v := range parts {
			bob.waitText(v, live)
		}
		bob.fill(bob.pick("I came home two hours late", `form[action="/apologies/ack"] input[name=reply]`), "I hear you.")
		bob.press(bob.pick("I came home two hours late", `form[action="/apologies/ack"] button`))
		bob.submitted("acknowledge the apology")
		alice.waitText("I hear you.", live)
	})

	step("setback", func(t *testing.T) {
		const what = "I forgot to call on Tuesday."
		bob.open("/setbacks")
		alice.open("/setbacks")
		alice.do(chromedp.SetValue(chromedp.CSS("#setback-about"),
			alice.eval(`[...document.querySelectorAll("#setback-about option")].find(o => o.text.includes("when I leave work")).value`)))
		alice.fill("#setback-text", what)
		alice.fill("#setback-plan", "A reminder at six.")
		alice.press("#setback-form button[type=submit]")
		alice.submitted("setback")
		bob.waitText(what, live)
		bob.waitText("A reminder at six.", live)
		bob.fill(bob.pick(what, `form[action="/setbacks/feel"] input[name=text]`), "Disappointed, and glad you said it.")
		bob.press(bob.pick(what, `form[action="/setbacks/feel"] button`))
		bob.submitted("feeling")
		alice.waitText("Disappointed, and glad you said it.", live)
	})

	step("rhythm", func(t *testing.T) {
		bob.open("/rhythm")
		alice.open("/rhythm")
		alice.do(chromedp.Click(chromedp.CSS("#every-weekly")))
		alice.do(chromedp.SetValue(chromedp.CSS("#rhythm-day"), "Tuesday"))
		alice.press("#rhythm-form button[type=submit]")
		alice.submitted("rhythm")
		bob.waitText("weekly", live)
		bob.press("#rhythm-agree")
		bob.submitted("agree to the rhythm")
		alice.waitText("agreed by Bob", live)
		alice.press("#rhythm-agree")
		alice.submitted("agree to the rhythm")
		bob.waitText("agreed by both", live)
		alice.open("/")
		if !alice.has("due") {
			t.Errorf("Today says nothing of when a check-in is due:\n%s", alice.text())
		}
	})

	step("question", func(t *testing.T) {
		const q = "What made you laugh this week?"
		bob.open("/questions")
		alice.open("/questions")
		alice.fill("#ask-text", q)
		alice.press("#ask-form button[type=submit]")
		alice.submitted("ask")
		bob.waitText(q, live)
		bob.fill(bob.pick(q, `form[action="/questions/answer"] textarea`), "The dog in the rain.")
		bob.press(bob.pick(q, `form[action="/questions/answer"] button`))
		bob.submitted("answer")
		alice.waitText("it opens once you both have", live)
		if alice.has("The dog in the rain.") {
			t.Errorf("Alice reads Bob's answer before answering herself")
		}
		alice.fill(alice.pick(q, `form[action="/questions/answer"] textarea`), "Your face at the dog in the rain.")
		alice.press(alice.pick(q, `form[action="/questions/answer"] button`))
		alice.submitted("answer")
		// The question opens in both pages.
		alice.waitText("The dog in the rain.", live)
		bob.waitText("Your face at the dog in the rain.", live)
	})

	step("moments", func(t *testing.T) {
		alice.open("/moments")
		bob.open("/moments")
		bob.fill("#moment-text", "Thank you for the soup when I was ill.")
		bob.do(chromedp.Click(chromedp.CSS("#moment-thanks")))
		bob.press("#moment-form button[type=submit]")
		bob.submitted("thanks")
		alice.waitText("Thank you for the soup", live)
		alice.waitText("Thanks from Bob", live)
		alice.fill("#moment-text", "Dancing in the kitchen.")
		alice.press("#moment-form button[type=submit]")
		bob.waitText("Dancing in the kitchen.", live)
	})

	step("history", func(t *testing.T) {
		alice.open("/history")
		for _, want := range []string{`proposed the boundary "I tell you before I make plans`, "Bob", "alice-laptop"} {
			if !alice.has(want) {
				t.Errorf("history does not show %q:\n%s", want, alice.text())
			}
		}
	})

	step("journal", func(t *testing.T) {
		const entry = "Scared it will not last; writing it down helps."
		alice.open("/journal")
		alice.press("#journal-open-form button[type=submit]")
		alice.fill("#journal-text", entry)
		alice.press("#journal-form button[type=submit]")
		alice.submitted("journal entry")
		if !alice.has(entry) {
			t.Errorf("the journal does not show the entry just written:\n%s", alice.text())
		}
		alice.do(chromedp.Click(chromedp.CSS(alice.pick("passphrase of its own", "summary"))))
		alice.fill("#journal-new", "only mine, really")
		alice.fill("#journal-again", "only mine, really")
		alice.press(alice.pick("passphrase of its own", `form[action="/journal/passphrase"] button`))
		alice.submitted("journal passphrase")
		// Setting it closes the journal: it opens with the passphrase only.
		if alice.has(entry) {
			t.Errorf("the journal still shows its entry after its passphrase was set")
		}
		alice.fill("#journal-passphrase", "not it at all")
		alice.press("#journal-open-form button[type=submit]")
		if alice.problem() == "" || alice.has(entry) {
			t.Errorf("a wrong journal passphrase: error %q, entry shown %v", alice.problem(), alice.has(entry))
		}
		alice.fill("#journal-passphrase", "only mine, really")
		alice.press("#journal-open-form button[type=submit]")
		if !alice.has(entry) {
			t.Errorf("the journal opened with its passphrase does not show the entry:\n%s", alice.text())
		}
		alice.axe("/journal open, with an entry")
		alice.screenshot(shots, "journal-open")
		alice.press("#journal-close")
		alice.submitted("close the journal")
		if alice.has(entry) {
			t.Errorf("the closed journal still shows its entry")
		}
		bob.open("/journal")
		if bob.has(entry) {
			t.Errorf("Bob's journal page shows Alice's entry")
		}
	})

	step("keyboard", func(t *testing.T) {
		// Bob checks in with the keyboard alone: the skip link, a mood
		// chosen with the arrow keys, a feeling ticked with Space, a note
		// typed, Enter to send.
		const note = "I feel calmer when you tell me early."
		bob.open("/checkins")
		bob.key(kb.Tab)
		if f := bob.focused(); !strings.Contains(bob.eval(`document.activeElement.innerText || ""`), "Skip") {
			t.Errorf("the first Tab reaches %s, want the skip link", f)
		}
		bob.checkFocusVisible()
		bob.key(kb.Enter)
		bob.tabTo("#mood-1")
		bob.key(kb.ArrowRight)
		bob.key(kb.ArrowRight)
		if bob.eval(`String(document.getElementById("mood-3").checked)`) != "true" {
			t.Errorf("two presses of the right arrow from the first mood should choose the third; focus is on %s", bob.focused())
		}
		bob.tabTo(`#checkin-form input[type=checkbox]`)
		bob.key(" ")
		bob.tabTo("#checkin-note")
		bob.typeText(note)
		bob.tabTo("#checkin-form button[type=submit]")
		bob.enter()
		bob.submitted("keyboard check-in")
		alice.open("/checkins")
		alice.waitText(note, live)
	})

	step("pages", func(t *testing.T) {
		for _, p := range []struct{ name, path string }{
			{"today", "/"}, {"boundaries", "/boundaries"}, {"goals", "/goals"},
			{"checkins", "/checkins"}, {"commitments", "/commitments"},
			{"apologies", "/apologies"}, {"setbacks", "/setbacks"},
			{"rhythm", "/rhythm"}, {"questions", "/questions"},
			{"moments", "/moments"}, {"history", "/history"},
			{"journal", "/journal"}, {"pair", "/pair"}, {"devices", "/devices"},
		} {
			alice.pageCheck(shots, p.name, p.path)
		}
	})

	step("lock", func(t *testing.T) {
		alice.open("/devices")
		alice.press("#lock-button")
		alice.open("/goals")
		if alice.eval(`document.body.dataset.page`) != "unlock" || alice.has("Walk together") {
			t.Fatalf("after locking, /goals shows:\n%s", alice.text())
		}
		alice.fill("#unlock-passphrase", alicePass)
		alice.press("#unlock-form button[type=submit]")
		alice.open("/goals")
		alice.waitText("Walk together", live)
	})

	step("unpair", func(t *testing.T) {
		alice.open("/devices")
		// It asks first: the button is behind "Unpair…".
		alice.do(chromedp.Click(chromedp.CSS(alice.pick("bob-phone", `details.unpair summary`))))
		alice.press(alice.pick("bob-phone", `form[action="/devices/unpair"] button`))
		alice.submitted("unpair")
		alice.waitText("unpaired", live)
		if alice.eval(`String(!!document.querySelector('form[action="/devices/unpair"]'))`) == "true" {
			t.Errorf("after unpairing Bob's only device, the devices page still offers to unpair one:\n%s", alice.shown())
		}
	})
}

// waitSel waits up to d until the element sel is on the page.
func (tb *tab) waitSel(sel string, d time.Duration) {
	tb.t.Helper()
	deadline := time.Now().Add(d)
	for tb.eval(`String(!!document.querySelector(`+strconv.Quote(sel)+`))`) != "true" {
		if time.Now().After(deadline) {
			tb.t.Fatalf("%s: after %v %s has no %s; it shows:\n%s", tb.name, d, tb.location(), sel, tb.text())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
