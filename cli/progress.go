package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	tsync "github.com/trustsync/trustsync/sync"
)

// progressLine shows, on one line of a terminal that it rewrites, how far a
// node's sessions are with what their hello exchange found to differ (the
// node's Progress events), as in "receiving from Sam (sam-laptop): 12 of 60
// documents, 48 KB". The line is erased when a transfer is done and by
// stop, so that whatever the command prints next starts on a clean line.
type progressLine struct {
	w     io.Writer
	unsub func()
	done  chan struct{}

	mu      sync.Mutex
	held    bool   // not drawing yet (see release)
	text    string // the line to show, "" for none
	shown   bool   // a line is on the terminal
	stopped bool
}

// startProgressLine follows events (from the node's Subscribe, ended by
// unsub) until stop. A held line draws nothing until release. w is the
// command's standard error: the line's own control codes go to the
// terminal behind its escaping, while the text, which names the partner's
// device as the partner wrote it, is escaped.
func startProgressLine(w io.Writer, events <-chan tsync.Event, unsub func(), held bool) *progressLine {
	p := &progressLine{w: rawWriter(w), unsub: unsub, done: make(chan struct{}), held: held}
	go func() {
		defer close(p.done)
		for ev := range events {
			if ev.Type != tsync.Progress {
				continue
			}
			text := ""
			if !ev.Progress.Done {
				text = escapeText(progressWords(remoteName(ev.Peer.String(), ev.Remote), ev.Progress))
			}
			p.mu.Lock()
			p.text = text
			p.drawLocked()
			p.mu.Unlock()
		}
	}()
	return p
}

// release starts drawing a held line.
func (p *progressLine) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held = false
	p.drawLocked()
}

// stop ends the subscription, waits for the line's goroutine and erases
// the line. It is safe to call twice.
func (p *progressLine) stop() {
	p.unsub()
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	p.text = ""
	p.drawLocked()
	p.stopped = true
}

// drawLocked shows p.text, or erases the line when it is empty. p.mu is
// held.
func (p *progressLine) drawLocked() {
	switch {
	case p.stopped || p.held:
	case p.text != "":
		fmt.Fprintf(p.w, "\r%s\x1b[K", p.text)
		p.shown = true
	case p.shown:
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// progressWords says how far a transfer with the device name is, in one
// short line.
func progressWords(name string, t tsync.Transfer) string {
	receiving := t.Receive > 0 && t.Received < t.Receive
	sending := t.Send > 0 && t.Sent < t.Send
	switch {
	case receiving && sending:
		return fmt.Sprintf("syncing with %s: %s received, %d of %d sent, %s", name,
			ofDocuments(t.Received, t.Receive), t.Sent, t.Send, sizeWords(t.BytesIn+t.BytesOut))
	case t.Receive > 0 && !sending:
		return fmt.Sprintf("receiving from %s: %s, %s", name, ofDocuments(t.Received, t.Receive), sizeWords(t.BytesIn))
	}
	return fmt.Sprintf("sending to %s: %s, %s", name, ofDocuments(t.Sent, t.Send), sizeWords(t.BytesOut))
}

// sizeWords writes a byte count for people: "512 B", "48 KB", "1.2 MB".
func sizeWords(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1000*1000:
		return fmt.Sprintf("%d KB", (n+500)/1000)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// A transfer that serve logs: more than transferDocs documents, or more
// than transferBytes bytes both ways.
const (
	transferDocs  = 5
	transferBytes = 1000 * 1000
)

// transferLog is serve's record of one device's transfer: whether its
// start was logged.
type transferLog struct {
	logged bool
	last   tsync.Transfer
}

// transferLines returns the lines serve logs for a Progress event of the
// device name: one when a long transfer starts (or, for one found long only
// at its end, none), one when it ends.
func (l *transferLog) lines(name string, t tsync.Transfer) []string {
	l.last = t
	long := t.Receive+t.Send > transferDocs || t.BytesIn+t.BytesOut > transferBytes
	var out []string
	if long && !l.logged && !t.Done {
		l.logged = true
		out = append(out, fmt.Sprintf("transfer with %s started: %s to receive, %d to send", name, countWord(t.Receive, "document", "documents"), t.Send))
	}
	if t.Done && (l.logged || long) {
		l.logged = false
		out = append(out, fmt.Sprintf("transfer with %s done: %s received, %d sent, %s in, %s out, in %s",
			name, countWord(t.Received, "document", "documents"), t.Sent, sizeWords(t.BytesIn), sizeWords(t.BytesOut), seconds(t.Elapsed)))
	}
	return out
}

// stopped returns the line serve logs when the session ends with a logged
// transfer not done, or "".
func (l *transferLog) stopped(name string) string {
	if !l.logged {
		return ""
	}
	l.logged = false
	t := l.last
	return fmt.Sprintf("transfer with %s stopped: %s received, %d of %d sent, %s in, %s out, after %s",
		name, ofDocuments(t.Received, t.Receive), t.Sent, t.Send, sizeWords(t.BytesIn), sizeWords(t.BytesOut), seconds(t.Elapsed))
}

// seconds writes a duration as seconds with one decimal: "0.4s".
func seconds(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// ofDocuments writes "3 of 4 documents", "0 of 1 document".
func ofDocuments(done, total int) string {
	return fmt.Sprintf("%d of %s", done, countWord(total, "document", "documents"))
}
