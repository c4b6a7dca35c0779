package cli

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	tsync "github.com/trustsync/trustsync/sync"
)

func TestProgressWords(t *testing.T) {
	for _, tc := range []struct {
		t    tsync.Transfer
		want string
	}{
		{tsync.Transfer{Receive: 60, Received: 12, BytesIn: 48_200}, "receiving from Sam (sam-laptop): 12 of 60 documents, 48 KB"},
		{tsync.Transfer{Receive: 60, Received: 12, Send: 1, Sent: 1, BytesIn: 1_500_000}, "receiving from Sam (sam-laptop): 12 of 60 documents, 1.5 MB"},
		{tsync.Transfer{Send: 3, Sent: 1, BytesOut: 900}, "sending to Sam (sam-laptop): 1 of 3 documents, 900 B"},
		{tsync.Transfer{Receive: 4, Received: 1, Send: 3, Sent: 2, BytesIn: 3000, BytesOut: 2000}, "syncing with Sam (sam-laptop): 1 of 4 documents received, 2 of 3 sent, 5 KB"},
		{tsync.Transfer{Receive: 1, BytesIn: 1_200_000}, "receiving from Sam (sam-laptop): 0 of 1 document, 1.2 MB"},
		{tsync.Transfer{Send: 1, BytesOut: 2_000_000}, "sending to Sam (sam-laptop): 0 of 1 document, 2.0 MB"},
	} {
		if got := progressWords("Sam (sam-laptop)", tc.t); got != tc.want {
			t.Errorf("progressWords(%+v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// TestServe_LogsLongTransfersOnly: serve logs a line when a transfer of
// more than 5 documents starts and one when it is done, one when a session
// ends in the middle of one, and nothing for a short one.
func TestServe_LogsLongTransfersOnly(t *testing.T) {
	d := initDevice(t, "Alex", "phone")
	d.withStore(func(ctx context.Context, st trustsync.Store, _ *crdt.Space) {
		sam := tsync.Remote{DeviceID: "dev1", DeviceName: "sam-laptop", MemberName: "Sam", MemberID: "m1"}
		events := make(chan tsync.Event, 64)
		progress := func(t tsync.Transfer) {
			events <- tsync.Event{Type: tsync.Progress, Peer: "p1", Remote: sam, Progress: t}
		}
		// Short: 2 documents.
		progress(tsync.Transfer{Receive: 2})
		progress(tsync.Transfer{Receive: 2, Received: 2, BytesIn: 4000, BytesOut: 300, Elapsed: 80 * time.Millisecond, Done: true})
		// Long: 60 documents.
		progress(tsync.Transfer{Receive: 60, Send: 1})
		progress(tsync.Transfer{Receive: 60, Received: 30, Send: 1, Sent: 1, BytesIn: 70_000, BytesOut: 1000, Elapsed: 200 * time.Millisecond})
		progress(tsync.Transfer{Receive: 60, Received: 60, Send: 1, Sent: 1, BytesIn: 145_000, BytesOut: 2000, Elapsed: 420 * time.Millisecond, Done: true})
		// Long by its bytes, cut off.
		events <- tsync.Event{Type: tsync.PeerOnline, Peer: "p1", Remote: sam}
		progress(tsync.Transfer{Receive: 1})
		progress(tsync.Transfer{Receive: 1, BytesIn: 1_200_000, Elapsed: 3 * time.Second})
		events <- tsync.Event{Type: tsync.PeerOffline, Peer: "p1", Remote: sam}
		close(events)
		var out bytes.Buffer
		logEvents(ctx, &out, events, newSyncRecorder(st, recordNowhere, func() time.Time { return t0 }))
		want := strings.Join([]string{
			"transfer with Sam (sam-laptop) started: 60 documents to receive, 1 to send",
			"transfer with Sam (sam-laptop) done: 60 documents received, 1 sent, 145 KB in, 2 KB out, in 0.4s",
			"connected to Sam (sam-laptop)",
			"transfer with Sam (sam-laptop) started: 1 document to receive, 0 to send",
			"transfer with Sam (sam-laptop) stopped: 0 of 1 document received, 0 of 0 sent, 1.2 MB in, 0 B out, after 3.0s",
			"disconnected from Sam (sam-laptop)",
		}, "\n") + "\n"
		if out.String() != want {
			t.Errorf("serve logged:\n%s\nwant:\n%s", out.String(), want)
		}
	})
}

// TestSync_ProgressOnTerminalOnly syncs month documents from a serving
// device twice. On a terminal, sync shows its progress on standard error on
// one line that it rewrites and erases; its summary on standard output is
// the usual one line. Without a terminal, standard error stays empty, as
// scripts expect. serve logs each long transfer's start and end.
func TestSync_ProgressOnTerminalOnly(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	alex := initDevice(t, "Alex", "alex-phone")
	pairNet(t, sam, alex)
	addMonths := func(from time.Time, n int) {
		for i := range n {
			sam.now = from.AddDate(0, -i, 0)
			sam.create("checkin", "add", "--mood", "3", "--note", "A calm week, we talked every evening")
		}
		sam.now = t0
	}
	addMonths(t0, 8)

	f, _, serveErr := testFactory(sam)
	ctx, cancel := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- Execute(ctx, f, NewCmdRoot(f), []string{"--home", sam.home, "serve"}) }()
	t.Cleanup(func() {
		cancel()
		<-code
	})
	waitFor(t, "listening on", func() string { return serveErr.String() + "listening on" })

	// On a terminal.
	tf, out, errOut := testFactory(alex)
	tf.IOStreams.StderrTTY = true
	if c := Execute(context.Background(), tf, NewCmdRoot(tf), []string{"--home", alex.home, "sync", "--timeout", "20s"}); c != ExitOK {
		t.Fatalf("sync on a terminal: exit %d, stdout %q, stderr %q", c, out.String(), errOut.String())
	}
	summary := regexp.MustCompile(`^received 8 check-ins from Sam \(sam-laptop\)[^\n]*\n$`)
	if !summary.MatchString(out.String()) {
		t.Fatalf("sync on a terminal printed %q on stdout, want its one summary line", out.String())
	}
	e := errOut.String()
	if !regexp.MustCompile(`^\r(receiving from|syncing with) Sam \(sam-laptop\): 0 of 8 documents`).MatchString(e) ||
		!strings.Contains(e, ": 8 of 8 documents") ||
		!strings.HasSuffix(e, "\r\x1b[K") || strings.Contains(e, "\n") {
		t.Fatalf("sync on a terminal printed %q on stderr, want a progress line rewritten, then erased", e)
	}
	waitFor(t, "transfer with Alex (alex-phone) done: ", serveErr.String)
	contains(t, "serve's log", serveErr.String(), "transfer with Alex (alex-phone) started: ")

	// Without a terminal, as scripts run it.
	addMonths(t0.AddDate(0, -8, 0), 6)
	r := alex.run("sync", "--timeout", "20s")
	if r.code != ExitOK || !regexp.MustCompile(`^received 6 check-ins from Sam \(sam-laptop\)[^\n]*\n$`).MatchString(r.out) || r.errOut != "" {
		t.Fatalf("sync without a terminal: exit %d, stdout %q, stderr %q; want one summary line and nothing on stderr", r.code, r.out, r.errOut)
	}
}

// TestProgressLine_EscapesNames: the progress line names the partner's
// device as the partner wrote it; what a terminal would act on in that name
// is shown escaped, while the line's own carriage return and erase reach
// the terminal.
func TestProgressLine_EscapesNames(t *testing.T) {
	var term bytes.Buffer
	events := make(chan tsync.Event, 2)
	sam := tsync.Remote{MemberName: "Sam\x1b[2J", DeviceName: "sam-laptop"}
	events <- tsync.Event{Type: tsync.Progress, Peer: "p1", Remote: sam, Progress: tsync.Transfer{Receive: 3, Received: 1, BytesIn: 2000}}
	line := startProgressLine(escapeOutput(&term, false), events, func() {}, false)
	close(events)
	line.stop()
	want := "\rreceiving from Sam\\x1b[2J (sam-laptop): 1 of 3 documents, 2 KB\x1b[K\r\x1b[K"
	if term.String() != want {
		t.Fatalf("the terminal got %q, want %q", term.String(), want)
	}
}

// TestPair_ProgressAfterThePairingLines: the first sync after pairing
// shows its progress on a terminal's standard error only once the pairing
// lines are printed, and erases it before "Synced.".
func TestPair_ProgressAfterThePairingLines(t *testing.T) {
	alex := initDevice(t, "Alex", "alex-laptop")
	sam := initDevice(t, "Sam", "sam-laptop")
	for i := range 6 {
		alex.now = t0.AddDate(0, -i, 0)
		alex.create("checkin", "add", "--mood", "4", "--note", "We walked by the river")
	}
	alex.now = t0

	f, out, errOut := testFactory(alex)
	code := make(chan int, 1)
	go func() {
		code <- Execute(context.Background(), f, NewCmdRoot(f), []string{"--home", alex.home, "pair", "--timeout", "1m"})
	}()
	waitFor(t, "Waiting until", errOut.String)
	invite := regexp.MustCompile(`(?m)^invite: (\S+)$`).FindStringSubmatch(out.String())
	if invite == nil {
		t.Fatalf("no invite line in %q", out.String())
	}
	sf, _, samErr := testFactory(sam)
	sf.IOStreams.StderrTTY = true
	if c := Execute(context.Background(), sf, NewCmdRoot(sf), []string{"--home", sam.home, "pair", invite[1]}); c != ExitOK {
		t.Fatalf("joining pair: exit %d, stderr %q", c, samErr.String())
	}
	if c := <-code; c != ExitOK {
		t.Fatalf("inviting pair: exit %d, stderr %q", c, errOut.String())
	}
	e := samErr.String()
	paired, synced := strings.Index(e, "Paired with Alex's device"), strings.Index(e, "Synced. ")
	line := regexp.MustCompile(`\r(receiving from|syncing with) Alex \(alex-laptop\): [0-9]+ of [0-9]+ documents`).FindStringIndex(e)
	if paired < 0 || synced < 0 || line == nil || line[0] < paired || line[0] > synced ||
		!strings.HasSuffix(e[:synced], "\r\x1b[K") {
		t.Fatalf("joining pair's stderr %q: want the progress line between the pairing line and \"Synced.\", erased before it", e)
	}
	if strings.Contains(errOut.String(), "\r") {
		t.Fatalf("the inviting pair, without a terminal, printed a progress line: %q", errOut.String())
	}
}
