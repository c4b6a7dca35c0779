package main

// mDNS between real trustsync processes, on a LAN made of two network
// namespaces joined by a veth pair. Nothing is sent on the machine's real
// interfaces: every trustsync command of the test runs inside one of the
// two namespaces (ip netns exec), and the namespaces are the test's own.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/cli"
	"github.com/trustsync/trustsync/store"
)

// lan is two network namespaces joined by a veth pair: a's end has
// 10.99.0.1/24, b's 10.99.0.2/24, both multicast, nothing else but lo.
type lan struct {
	a, b string // namespace names
	bin  string // the trustsync command (this test binary)
}

// newLAN makes the two namespaces, unique to this run, and deletes them
// when the test ends, however it ends. Where the machine cannot make
// network namespaces -- not root, no ip command, or a kernel or container
// that refuses them -- the test is skipped with the reason (CI runs as
// root, so it runs there); any other failure fails the test.
func newLAN(t *testing.T) *lan {
	t.Helper()
	skipWithoutNetns(t)
	bin, err := exec.LookPath("trustsync")
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("tsmdns-%d-%06x", os.Getpid(), rand.IntN(1<<24))
	l := &lan{a: id + "-a", b: id + "-b", bin: bin}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	for i, ns := range []string{l.a, l.b} {
		out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput()
		if err != nil && i == 0 && (bytes.Contains(out, []byte("Operation not permitted")) || bytes.Contains(out, []byte("Permission denied"))) {
			// Root without CAP_SYS_ADMIN, as in an unprivileged container.
			t.Skipf("needs root to make network namespaces: ip netns add was refused: %s", bytes.TrimSpace(out))
		}
		if err != nil {
			t.Fatalf("ip netns add %s: %v: %s", ns, err, bytes.TrimSpace(out))
		}
		t.Cleanup(func() { deleteNetns(t, ns) })
	}
	// Made inside a's namespace with its peer in b's: the link never
	// exists in the machine's own namespace.
	ip("-n", l.a, "link", "add", "ts0", "type", "veth", "peer", "name", "ts1", "netns", l.b)
	for _, side := range []struct{ ns, dev, addr string }{{l.a, "ts0", "10.99.0.1/24"}, {l.b, "ts1", "10.99.0.2/24"}} {
		ip("-n", side.ns, "addr", "add", side.addr, "dev", side.dev)
		ip("-n", side.ns, "link", "set", "dev", side.dev, "multicast", "on")
		ip("-n", side.ns, "link", "set", "dev", side.dev, "up")
		ip("-n", side.ns, "link", "set", "dev", "lo", "up")
	}
	return l
}

// skipWithoutNetns skips the test, with the reason, on a machine where it
// cannot make network namespaces: not running as root, or without the ip
// command of iproute2.
func skipWithoutNetns(t *testing.T) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("needs root to make network namespaces: running as uid %d (the test makes its own LAN so that mDNS never reaches the machine's real interfaces)", uid)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("needs the ip command (iproute2) to make network namespaces: %v", err)
	}
}

// deleteNetns deletes a namespace of the test; a process still in it is a
// leak of the test: it is reported, and killed since the test started it.
func deleteNetns(t *testing.T, ns string) {
	if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			t.Errorf("process %d was left running in namespace %s", pid, ns)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
		t.Errorf("ip netns delete %s: %v: %s", ns, err, bytes.TrimSpace(out))
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Errorf("ip netns list: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ns {
			t.Errorf("namespace %s is still listed after its deletion", ns)
		}
	}
}

// cmd returns `trustsync args...` on home, run inside namespace ns, with
// env added to an environment free of the caller's TRUSTSYNC_ variables.
func (l *lan) cmd(ns, home string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, l.bin}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TRUSTSYNC_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, "TRUSTSYNC_HOME="+home, "NO_COLOR=1"), env...)
	return cmd
}

// run runs a trustsync command to its end and returns its stdout, stderr
// and exit code.
func (l *lan) run(t *testing.T, ns, home string, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := l.cmd(ns, home, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatalf("ip netns exec %s trustsync %v: %v", ns, args, err)
	}
	return out.String(), errb.String(), 0
}

// must runs a trustsync command that must exit 0 and returns its stdout.
func (l *lan) must(t *testing.T, ns, home string, args ...string) string {
	t.Helper()
	out, stderr, code := l.run(t, ns, home, nil, args...)
	if code != 0 {
		t.Fatalf("trustsync %s (in %s): exit %d: %s", strings.Join(args, " "), ns, code, stderr)
	}
	return out
}

// lockedBuffer collects a background process's stderr.
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

// bgProc is a trustsync command running in the background.
type bgProc struct {
	cmd      *exec.Cmd
	lines    *bufio.Scanner // its standard output
	stderr   *lockedBuffer
	waitOnce stdsync.Once
	err      error
}

// background starts a trustsync command in ns; it is killed when the test
// ends if it still runs.
func (l *lan) background(t *testing.T, ns, home string, args ...string) *bgProc {
	t.Helper()
	p := &bgProc{cmd: l.cmd(ns, home, nil, args...), stderr: &lockedBuffer{}}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.lines = bufio.NewScanner(out)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// ip netns exec execs trustsync itself: this is its process.
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.wait()
	})
	return p
}

// wait reads what is left of the command's standard output, then waits for
// its end. Only one caller reads lines at a time.
func (p *bgProc) wait() error {
	p.waitOnce.Do(func() {
		for p.lines.Scan() {
		}
		p.err = p.cmd.Wait()
	})
	return p.err
}

// await reads standard output up to a line starting with prefix and
// returns the rest of that line; "" when the command ended first.
func (p *bgProc) await(prefix string) string {
	for p.lines.Scan() {
		if s, ok := strings.CutPrefix(p.lines.Text(), prefix); ok {
			return s
		}
	}
	return ""
}

// listenConfig reads the listen addresses and mDNS setting a home keeps
// (read from its store; no command goes online for it).
func listenConfig(t *testing.T, home string) cli.Config {
	t.Helper()
	st, err := store.Open(home, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var cfg cli.Config
	if err := st.View(context.Background(), func(tx trustsync.ReadTx) error {
		b, err := tx.Get(cli.ConfigKey)
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &cfg)
	}); err != nil {
		t.Fatalf("read the config of %s: %v", home, err)
	}
	return cfg
}

// remembered returns the addresses `devices --json` on home lists for the
// device of member: what this home knows of where that device listens.
func (l *lan) remembered(t *testing.T, ns, home, member string) []string {
	t.Helper()
	out := l.must(t, ns, home, "devices", "--json")
	var devs []struct {
		Whose string   `json:"whose"`
		This  bool     `json:"this_device"`
		Addrs []string `json:"last_known_addrs"`
	}
	if err := json.Unmarshal([]byte(out), &devs); err != nil {
		t.Fatalf("devices --json: %v\n%s", err, out)
	}
	var addrs []string
	found := false
	for _, d := range devs {
		if !d.This && d.Whose == member {
			found = true
			addrs = append(addrs, d.Addrs...)
		}
	}
	if !found {
		t.Fatalf("devices --json on %s lists no device of %s:\n%s", home, member, out)
	}
	return addrs
}

// ports returns the TCP and UDP ports of multiaddrs.
func ports(t *testing.T, addrs []string) []int {
	t.Helper()
	var ps []int
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			t.Fatalf("address %q: %v", s, err)
		}
		for _, code := range []int{ma.P_TCP, ma.P_UDP} {
			if v, err := a.ValueForProtocol(code); err == nil {
				p, err := strconv.Atoi(v)
				if err != nil {
					t.Fatalf("address %q: port %q", s, v)
				}
				ps = append(ps, p)
			}
		}
	}
	return ps
}

// pair pairs home b (in namespace l.b) with home a (in l.a) with the
// real `trustsync pair` commands, each inside its namespace: a invites, b
// joins over the veth link, both print the same code.
func (l *lan) pair(t *testing.T, a, b string) {
	t.Helper()
	pairByCommands(t, l.cmd(l.a, a, nil, "pair", "--timeout", "60s"), func(invite string) (string, string, int) {
		return l.run(t, l.b, b, nil, "pair", invite)
	})
}

// TestSync_MDNSFindsPartnerOnLAN runs two devices on a LAN of their own
// (two network namespaces joined by a veth pair), both initialised with
// mDNS on and listening on 0.0.0.0, paired with the real `trustsync pair`.
// Then both move to listen ports neither has ever told the other: every
// address each remembers of the other (`devices --json`) is dead, in both
// directions, since `serve` also dials its partner. With
// TRUSTSYNC_MDNS=off, `trustsync sync` then finds nobody and exits 1 (the
// control: nothing else can bring them together); with mDNS on, the same
// sync and serve find each other on the LAN, sync exits 0 and an edit
// moves each way (`boundary list --json`).
func TestSync_MDNSFindsPartnerOnLAN(t *testing.T) {
	l := newLAN(t)
	dir := t.TempDir()
	alex, sam := filepath.Join(dir, "alex"), filepath.Join(dir, "sam")
	for _, h := range []struct{ ns, home, name string }{{l.a, alex, "Alex"}, {l.b, sam, "Sam"}} {
		l.must(t, h.ns, h.home, "init", "--name", h.name, "--device", strings.ToLower(h.name)+"-laptop",
			"--listen", "/ip4/0.0.0.0/tcp/0", "--listen", "/ip4/0.0.0.0/udp/0/quic-v1")
		if cfg := listenConfig(t, h.home); !cfg.MDNS {
			t.Fatalf("%s's home keeps mDNS off after init without --no-mdns: %+v", h.name, cfg)
		}
	}
	l.pair(t, alex, sam)

	// Every port either device listened on or was told of so far.
	samKnowsAlex := l.remembered(t, l.b, sam, "Alex")
	alexKnowsSam := l.remembered(t, l.a, alex, "Sam")
	t.Logf("after pairing, Sam's device remembers Alex's at %v; Alex's remembers Sam's at %v", samKnowsAlex, alexKnowsSam)
	if !slices.ContainsFunc(samKnowsAlex, func(s string) bool { return strings.HasPrefix(s, "/ip4/10.99.0.1/") }) {
		t.Fatalf("Sam's device does not remember Alex's LAN address 10.99.0.1 (%v): the stale-address case would not be tested", samKnowsAlex)
	}
	if !slices.ContainsFunc(alexKnowsSam, func(s string) bool { return strings.HasPrefix(s, "/ip4/10.99.0.2/") }) {
		t.Fatalf("Alex's device does not remember Sam's LAN address 10.99.0.2 (%v): the stale-address case would not be tested", alexKnowsSam)
	}
	old := append(append(ports(t, samKnowsAlex), ports(t, alexKnowsSam)...),
		append(ports(t, listenConfig(t, alex).Listen), ports(t, listenConfig(t, sam).Listen)...)...)
	// Four ports none of the devices ever used, distinct from each other
	// too (so that 127.0.0.1 in one namespace never reaches the other's
	// old port either), below Linux's ephemeral range so that no outgoing
	// connection holds one.
	var fresh []int
	for p := 20000 + rand.IntN(10000); len(fresh) < 4; p++ {
		if !slices.Contains(old, p) {
			fresh = append(fresh, p)
		}
	}
	alexListen := []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", fresh[0]), fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", fresh[1])}
	samListen := fmt.Sprintf("TRUSTSYNC_LISTEN=/ip4/0.0.0.0/tcp/%d,/ip4/0.0.0.0/udp/%d/quic-v1", fresh[2], fresh[3])
	t.Logf("old ports %v; Alex's serve moves to %v, Sam's sync to %s", old, alexListen, samListen)

	alexEdit := strings.TrimSpace(l.must(t, l.a, alex, "boundary", "add", "Phones away at dinner"))
	samEdit := strings.TrimSpace(l.must(t, l.b, sam, "boundary", "add", "We talk before bed"))

	serve := l.background(t, l.a, alex, "serve", "--listen", alexListen[0], "--listen", alexListen[1])
	serveErr := serve.stderr
	listening := serve.await("listening on ")
	if listening == "" {
		_ = serve.wait()
		t.Fatalf("serve ended before it listened: %s", serveErr.String())
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- serve.wait() }()
	if want := fmt.Sprintf("/ip4/10.99.0.1/tcp/%d/", fresh[0]); !strings.Contains(listening, want) {
		t.Fatalf("serve listens on %s, want %s...", listening, want)
	}

	// The control: without mDNS, the remembered addresses lead nowhere,
	// though sync retries them (and serve redials Sam's) for 8 s -- longer
	// than the sync with mDNS below needs (~5 s: libp2p first waits out its
	// 5 s QUIC handshake timeout on Alex's stale QUIC address).
	out, stderr, code := l.run(t, l.b, sam, []string{samListen, "TRUSTSYNC_MDNS=off"}, "sync", "--timeout", "8s")
	if code != 1 || !strings.Contains(stderr, "no paired device answered") {
		t.Fatalf("sync with mDNS off and only stale addresses: exit %d, want 1 saying no paired device answered\nstdout: %s\nstderr: %s\nserve: %s",
			code, out, stderr, serveErr.String())
	}
	t.Logf("control, mDNS off: exit 1: %s", strings.TrimSpace(stderr))
	if lanHas(t, l, l.b, sam, alexEdit) {
		t.Fatalf("Alex's boundary reached Sam's device though no sync succeeded")
	}

	// The same with mDNS on (kept at init): Sam's device finds Alex's.
	out, stderr, code = l.run(t, l.b, sam, []string{samListen}, "sync", "--timeout", "60s", "--json")
	if code != 0 {
		t.Fatalf("sync with mDNS on: exit %d: %s\nserve: %s", code, stderr, serveErr.String())
	}
	var rep struct {
		Synced  int `json:"synced"`
		Devices []struct {
			Member string `json:"member"`
			OK     bool   `json:"ok"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("sync --json: %v\n%s", err, out)
	}
	if rep.Synced != 1 || len(rep.Devices) != 1 || !rep.Devices[0].OK || rep.Devices[0].Member != "Alex" {
		t.Fatalf("sync --json: want Alex's device synced, got %s", out)
	}
	t.Logf("mDNS on: %s", strings.TrimSpace(out))
	if !lanHas(t, l, l.b, sam, alexEdit) {
		t.Errorf("Alex's boundary %s is not listed on Sam's device after the sync", alexEdit)
	}

	if err := serve.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-serveDone:
		if err != nil {
			t.Fatalf("serve after SIGINT: %v: %s", err, serveErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30s of SIGINT: %s", serveErr.String())
	}
	if !lanHas(t, l, l.a, alex, samEdit) {
		t.Errorf("Sam's boundary %s is not listed on Alex's device after the sync", samEdit)
	}
	if t.Failed() {
		t.Logf("serve's stderr: %s", serveErr.String())
	}
}

// fltHas reports whether `boundary list --json` on home lists id.
func lanHas(t *testing.T, l *lan, ns, home, id string) bool {
	t.Helper()
	out := l.must(t, ns, home, "boundary", "list", "--json")
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &items); err != nil {
		t.Fatalf("boundary list --json: %v\n%s", err, out)
	}
	return slices.ContainsFunc(items, func(it struct {
		ID string `json:"id"`
	}) bool {
		return it.ID == id
	})
}
