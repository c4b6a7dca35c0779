package netlab_test

// What the end-to-end tests share: real trustsync processes (this test
// binary, as the command) run inside the namespaces of a small internet.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/netlab"
)

// device is a trustsync home on a host of the small internet.
type device struct {
	t    testing.TB
	name string // the member's name, "Alex" or "Sam"
	h    *netlab.Host
	home string
	env  []string // added to every command's environment
}

// newDevice inits a home for member name on h: TCP and QUIC on ports
// the system picks, mDNS off (the homes are on different networks; the
// tests are about the relay and the routers).
func newDevice(t testing.TB, h *netlab.Host, name string) *device {
	t.Helper()
	d := &device{t: t, name: name, h: h, home: filepath.Join(t.TempDir(), strings.ToLower(name)), env: []string{"TRUSTSYNC_MDNS=off"}}
	d.must("init", "--name", name, "--device", strings.ToLower(name)+"-laptop", "--no-mdns",
		"--listen", "/ip4/0.0.0.0/udp/0/quic-v1", "--listen", "/ip4/0.0.0.0/tcp/0")
	return d
}

// cmd returns `trustsync args...` on the device's home, inside its host's
// namespace, in an environment free of the caller's TRUSTSYNC_ variables.
func (d *device) cmd(args ...string) *exec.Cmd {
	return trustsyncCmd(d.t, d.h, append([]string{"TRUSTSYNC_HOME=" + d.home}, d.env...), args...)
}

func trustsyncCmd(t testing.TB, h *netlab.Host, env []string, args ...string) *exec.Cmd {
	bin, err := exec.LookPath("trustsync")
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTSYNC_") && !strings.HasPrefix(kv, "GOLOG_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "NO_COLOR=1"), env...)
	if lv := os.Getenv("NETLAB_GOLOG"); lv != "" {
		// libp2p's own log, when a person debugging asks for it.
		cmd.Env = append(cmd.Env, "GOLOG_LOG_LEVEL="+lv)
	}
	return cmd
}

// run runs a trustsync command to its end: stdout, stderr, exit code.
func (d *device) run(args ...string) (string, string, int) {
	d.t.Helper()
	cmd := d.cmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		d.t.Fatalf("trustsync %v on %s's device: %v", args, d.name, err)
	}
	return out.String(), errb.String(), 0
}

// must runs a trustsync command that must exit 0 and returns its stdout.
func (d *device) must(args ...string) string {
	d.t.Helper()
	out, stderr, code := d.run(args...)
	if code != 0 {
		d.t.Fatalf("trustsync %s on %s's device: exit %d: %s", strings.Join(args, " "), d.name, code, stderr)
	}
	return out
}

// boundaries returns the texts `boundary list --json` lists.
func (d *device) boundaries() []string {
	d.t.Helper()
	out := d.must("boundary", "list", "--json")
	var items []struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		d.t.Fatalf("boundary list --json on %s's device: %v\n%s", d.name, err, out)
	}
	var texts []string
	for _, it := range items {
		texts = append(texts, it.Text)
	}
	return texts
}

// waitFor polls cond every 200 ms until it holds or within runs out, and
// reports how long it took.
func waitFor(within time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > within {
			return time.Since(start), false
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitBoundary waits until d lists a boundary with text.
func (d *device) waitBoundary(text string, within time.Duration, why string, logs ...*proc) time.Duration {
	d.t.Helper()
	took, ok := waitFor(within, func() bool { return slices.Contains(d.boundaries(), text) })
	if !ok {
		d.t.Fatalf("%s: %q is not listed on %s's device after %v (it lists %q)%s", why, text, d.name, within, d.boundaries(), dumpLogs(logs))
	}
	return took
}

// lockedBuffer collects a background process's output.
type lockedBuffer struct {
	mu stdsync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// proc is a trustsync command running in the background.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string // its standard output, line by line
	out    *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// start starts a trustsync command in the background; it is killed when
// the test ends if it still runs.
func start(t testing.TB, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, lines: make(chan string, 1024), out: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			_, _ = p.out.Write(append(sc.Bytes(), '\n'))
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		p.err = cmd.Wait()
		close(p.lines)
		close(p.done)
	}()
	t.Cleanup(func() {
		// ip netns exec execs trustsync itself: this is its process.
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	})
	return p
}

// await reads standard output up to a line containing s and returns that
// line; it fails the test when the command ends or within runs out first.
func (p *proc) await(t testing.TB, s string, within time.Duration) string {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%s ended (%v) before printing %q%s", p.name, p.err, s, dumpLogs([]*proc{p}))
			}
			if strings.Contains(line, s) {
				return line
			}
		case <-timeout:
			t.Fatalf("%s printed no %q within %v%s", p.name, s, within, dumpLogs([]*proc{p}))
		}
	}
}

// stop interrupts the command, as Ctrl-C does, and waits for a clean exit.
func (p *proc) stop(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("%s after SIGINT: %v%s", p.name, p.err, dumpLogs([]*proc{p}))
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop within 30s of SIGINT%s", p.name, dumpLogs([]*proc{p}))
	}
}

// dumpLogs returns what background commands wrote, for a failure message.
func dumpLogs(ps []*proc) string {
	var b strings.Builder
	for _, p := range ps {
		if p == nil {
			continue
		}
		b.WriteString("\n--- " + p.name + " stdout:\n" + p.out.String())
		b.WriteString("\n--- " + p.name + " stderr:\n" + p.stderr.String())
	}
	return b.String()
}

// serve starts `trustsync serve` on the device and waits until it
// listens.
func (d *device) serve() *proc {
	d.t.Helper()
	p := start(d.t, d.name+"'s serve", d.cmd("serve"))
	p.await(d.t, "listening on ", 60*time.Second)
	return p
}

// pairThrough pairs joiner with inviter by the real `trustsync pair`
// commands, each in its own namespace: inviter prints an invite, joiner
// joins with it, both print the same code.
func pairThrough(t testing.TB, inviter, joiner *device) {
	t.Helper()
	p := start(t, inviter.name+"'s pair", inviter.cmd("pair", "--timeout", "90s"))
	invite := strings.TrimPrefix(p.await(t, "invite: ", 60*time.Second), "invite: ")
	out, stderr, code := joiner.run("pair", invite, "--timeout", "90s")
	if code != 0 {
		t.Fatalf("pair INVITE on %s's device: exit %d: %s%s", joiner.name, code, stderr, dumpLogs([]*proc{p}))
	}
	codeLine := p.await(t, "code: ", 30*time.Second)
	if !strings.Contains(out, codeLine) {
		t.Fatalf("codes differ: %s's device printed %q, %s's printed %q", inviter.name, codeLine, joiner.name, out)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("pair on %s's device: %v%s", inviter.name, p.err, dumpLogs([]*proc{p}))
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("pair on %s's device did not end after the code%s", inviter.name, dumpLogs([]*proc{p}))
	}
}

// startRelay starts `trustsync relay` on a public host and returns it
// with its QUIC address (with /p2p/), as it prints it.
func startRelay(t testing.TB, h *netlab.Host) (*proc, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "relay")
	p := start(t, "the relay", trustsyncCmd(t, h, []string{"TRUSTSYNC_HOME=" + dir}, "relay", "--dir", dir,
		"--listen", "/ip4/0.0.0.0/udp/4001/quic-v1", "--listen", "/ip4/0.0.0.0/tcp/4001"))
	want := "/ip4/" + h.Addr() + "/udp/4001/quic-v1/p2p/"
	line := p.await(t, want, 60*time.Second)
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, want) {
			return p, f
		}
	}
	t.Fatalf("the relay's line %q holds no address starting %s", line, want)
	return nil, ""
}
