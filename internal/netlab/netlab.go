// Package netlab builds a small internet in network namespaces, for tests
// and benchmarks that run real trustsync processes across networks: a
// public segment, homes behind routers that translate addresses (NAT) and
// drop whatever nobody inside asked for, and devices that move from one
// network to another. It is imported by tests only.
//
// # The internet
//
// [New] makes one namespace that stands for the internet: it routes
// between every network attached to it, translates nothing and filters
// nothing. Each attachment is a link of its own with a /24 of public-
// looking addresses (11.K.0.0/24, K counting attachments): 11.K.0.1 on the
// internet's side, 11.K.0.2 on the other. These addresses are not private,
// shared (100.64/10) nor documentation ones, on purpose: libp2p treats those
// as private and never hole punches to them.
//
// [Internet.Public] attaches a machine with a public address of its own (a
// relay, a server); [Internet.Router] attaches a home router, and
// [Router.Host] puts a device on its LAN (10.K.0.0/24, the router at
// 10.K.0.1). No two LANs share a prefix, and the internet routes none of
// them: a device never reaches another home's private address.
//
// # Routers
//
// A router masquerades its LAN behind its public address with iptables and
// drops every packet from the internet that no device inside asked for
// (conntrack ESTABLISHED,RELATED only). A [Cone] router is Linux's default
// masquerade, which keeps a device's source port when it can: a device
// keeps its public port whoever it talks to, the case where hole punching
// works. A [Symmetric] router masquerades with --random-fully: every new
// flow gets a random port, so the port the relay sees is not the one the
// partner would have to reach, and hole punching fails.
//
// # Delay
//
// A link can delay every packet by a fixed time each way, for benchmarks.
// Where the kernel has tc's netem qdisc, the link is a veth pair with netem
// on both ends; where it has not (some VM kernels leave it out), the link
// is two TUN devices joined by this process, which holds each packet for the
// delay before it passes it on ([Internet.DelayKind] says which).
//
// # Cleaning up
//
// Everything lives in namespaces of the test's own, named after the
// test's process, and is deleted when the test ends, however it ends; a
// process the test left running in one is reported as an error and
// killed. Nothing is ever created in the machine's own network namespace,
// and nothing in the namespaces routes to it.
//
// # The tests
//
// The package's tests run real trustsync processes (the test binary, as
// the command) across such an internet: a relay on the public segment,
// Alex's and Sam's devices behind cone or symmetric routers, paired
// through the relay from the invite; live sync, offline edits merged on
// reconnect, the path status reports (hole punched behind cone routers,
// relayed behind symmetric ones), and a device that moves to another
// network while serve runs. Its benchmarks time a live edit and a first
// sync over direct, hole-punched and relayed paths on delayed links.
// Set NETLAB_GOLOG to a GOLOG_LOG_LEVEL value (such as
// "p2p-holepunch=debug,relay=debug") for libp2p's log of every trustsync
// process in the output of a failure.
package netlab

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	stdsync "sync"
	"syscall"
	"testing"
	"time"
)

// NAT is how a router translates its LAN's addresses.
type NAT int

const (
	// Cone is Linux's default masquerade: a flow keeps its source port
	// where it is free, so a device's public port is the same whoever it
	// talks to (endpoint-independent mapping). Hole punching works.
	Cone NAT = iota
	// Symmetric masquerades with --random-fully: each new flow gets a
	// random public port. Hole punching does not work.
	Symmetric
)

// String returns "cone" or "symmetric".
func (n NAT) String() string {
	if n == Symmetric {
		return "symmetric"
	}
	return "cone"
}

// Require skips the test, with the reason, where this machine cannot build
// the internet: not root, or without the ip command (iproute2) or iptables.
// CI runs as root and installs iptables, so the tests run there.
func Require(t testing.TB) {
	t.Helper()
	if uid := os.Geteuid(); uid != 0 {
		t.Skipf("needs root to make network namespaces: running as uid %d (the test builds its own small internet so that nothing reaches the machine's real interfaces)", uid)
	}
	for _, tool := range []struct{ cmd, pkg string }{{"ip", "iproute2"}, {"iptables", "iptables"}} {
		if _, err := exec.LookPath(tool.cmd); err != nil {
			t.Skipf("needs the %s command (package %s) to build routers in network namespaces: %v", tool.cmd, tool.pkg, err)
		}
	}
}

// Internet is the public segment: a namespace that routes between the
// networks attached to it.
type Internet struct {
	t      testing.TB
	prefix string // of every namespace name of this internet
	ns     string // the internet's own namespace

	mu      stdsync.Mutex
	links   int // attachments made so far (K of 11.K.0.0/24)
	netem   int // 0 not probed yet, 1 the kernel has netem, -1 it has not
	delayed string
}

// New makes the internet's namespace; it and every namespace attached to it
// later are deleted when the test ends. It skips the test where the
// machine cannot make namespaces (see [Require]).
func New(t testing.TB) *Internet {
	t.Helper()
	Require(t)
	in := &Internet{t: t, prefix: fmt.Sprintf("tsnet-%d-%06x-", os.Getpid(), rand.IntN(1<<24))}
	in.ns = in.prefix + "inet"
	out, err := exec.Command("ip", "netns", "add", in.ns).CombinedOutput()
	if err != nil && (bytes.Contains(out, []byte("Operation not permitted")) || bytes.Contains(out, []byte("Permission denied"))) {
		// Root without CAP_SYS_ADMIN, as in an unprivileged container.
		t.Skipf("needs root to make network namespaces: ip netns add was refused: %s", bytes.TrimSpace(out))
	}
	if err != nil {
		t.Fatalf("ip netns add %s: %v: %s", in.ns, err, bytes.TrimSpace(out))
	}
	t.Cleanup(func() { deleteNetns(t, in.ns) })
	in.ip("-n", in.ns, "link", "set", "lo", "up")
	in.sysctl(in.ns, "net.ipv4.ip_forward=1")
	return in
}

// Host is a machine in a namespace of its own: a public machine or a
// device on a router's LAN.
type Host struct {
	in   *Internet
	Name string // as given
	NS   string // its network namespace

	mu     stdsync.Mutex
	addr   string  // its address now
	router *Router // nil for a public machine
}

// Addr is the host's IPv4 address now: public for a public machine, on
// its router's LAN for a device.
func (h *Host) Addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.addr
}

// Router is the router the device is behind now; nil for a public machine.
func (h *Host) Router() *Router {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.router
}

// Router is a home router: a public address on the internet, a LAN behind
// it, NAT between them.
type Router struct {
	in   *Internet
	Name string
	NS   string
	NAT  NAT
	k    int // its LAN is 10.k.0.0/24, its public link 11.k.0.0/24

	mu     stdsync.Mutex
	public string
	hosts  int // devices given an address so far
}

// Public is the router's public address now: what the internet sees of
// every device behind it.
func (r *Router) Public() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.public
}

// namespace makes a namespace of this internet, deleted when the test ends.
func (in *Internet) namespace(name string) string {
	in.t.Helper()
	ns := in.prefix + name
	in.ip("netns", "add", ns)
	in.t.Cleanup(func() { deleteNetns(in.t, ns) })
	in.ip("-n", ns, "link", "set", "lo", "up")
	return ns
}

// attach links namespace ns to the internet on a new /24 and returns its
// public address, set on ns's interface "wan" with the default route
// through the internet.
func (in *Internet) attach(ns string, delay time.Duration) string {
	in.t.Helper()
	in.mu.Lock()
	in.links++
	k := in.links
	in.mu.Unlock()
	if k > 250 {
		in.t.Fatalf("netlab: more than 250 attachments to one internet")
	}
	near, far := fmt.Sprintf("11.%d.0.1", k), fmt.Sprintf("11.%d.0.2", k)
	in.link(in.ns, "p"+strconv.Itoa(k), ns, "wan", delay)
	in.ip("-n", in.ns, "addr", "add", near+"/24", "dev", "p"+strconv.Itoa(k))
	in.ip("-n", ns, "addr", "add", far+"/24", "dev", "wan")
	in.ip("-n", in.ns, "link", "set", "p"+strconv.Itoa(k), "up")
	in.ip("-n", ns, "link", "set", "wan", "up")
	in.ip("-n", ns, "route", "add", "default", "via", near)
	return far
}

// Public attaches a machine with a public address of its own, its link
// delaying every packet by delay each way.
func (in *Internet) Public(name string, delay time.Duration) *Host {
	in.t.Helper()
	h := &Host{in: in, Name: name, NS: in.namespace(name)}
	h.addr = in.attach(h.NS, delay)
	return h
}

// Router attaches a home router doing nat, its public link delaying every
// packet by delay each way, with an empty LAN.
func (in *Internet) Router(name string, nat NAT, delay time.Duration) *Router {
	in.t.Helper()
	r := &Router{in: in, Name: name, NS: in.namespace(name), NAT: nat}
	r.public = in.attach(r.NS, delay)
	r.k, _ = strconv.Atoi(strings.Split(r.public, ".")[1])
	in.ip("-n", r.NS, "link", "add", "lan", "type", "bridge")
	in.ip("-n", r.NS, "addr", "add", fmt.Sprintf("10.%d.0.1/24", r.k), "dev", "lan")
	in.ip("-n", r.NS, "link", "set", "lan", "up")
	in.sysctl(r.NS, "net.ipv4.ip_forward=1")
	masq := []string{"-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"}
	if nat == Symmetric {
		masq = append(masq, "--random-fully")
	}
	for _, rule := range [][]string{
		masq,
		// Only what a device inside asked for comes in.
		{"-P", "FORWARD", "DROP"},
		{"-A", "FORWARD", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "FORWARD", "-i", "lan", "-o", "wan", "-j", "ACCEPT"},
		// Devices on the LAN reach each other (bridged frames pass
		// iptables where the kernel bridges through netfilter).
		{"-A", "FORWARD", "-i", "lan", "-o", "lan", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"},
		{"-A", "INPUT", "-i", "wan", "-j", "DROP"},
	} {
		in.exec(r.NS, "iptables", rule...)
	}
	return r
}

// Host puts a new device on the router's LAN.
func (r *Router) Host(name string) *Host {
	r.in.t.Helper()
	h := &Host{in: r.in, Name: name, NS: r.in.namespace(name)}
	r.plug(h)
	return h
}

// plug links h to the router's LAN with a new address and its default
// route through the router.
func (r *Router) plug(h *Host) {
	in := r.in
	in.t.Helper()
	r.mu.Lock()
	r.hosts++
	n := r.hosts
	r.mu.Unlock()
	if n > 250 {
		in.t.Fatalf("netlab: more than 250 devices on router %s", r.Name)
	}
	// The router's end is named after the device and the router's plug
	// count, so that a device that comes back gets a fresh name.
	port := fmt.Sprintf("d%d", n)
	addr := fmt.Sprintf("10.%d.0.%d", r.k, n+1)
	in.ip("-n", r.NS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.NS)
	in.ip("-n", r.NS, "link", "set", port, "master", "lan")
	in.ip("-n", r.NS, "link", "set", port, "up")
	in.ip("-n", h.NS, "addr", "add", addr+"/24", "dev", "eth0")
	in.ip("-n", h.NS, "link", "set", "eth0", "up")
	in.ip("-n", h.NS, "route", "add", "default", "via", fmt.Sprintf("10.%d.0.1", r.k))
	h.mu.Lock()
	h.addr, h.router = addr, r
	h.mu.Unlock()
}

// MoveTo unplugs the device from its router and plugs it into r's LAN, as
// a laptop taken from home to a café: a new LAN address, a new router, a
// new public address. Its processes keep running; connections they had go
// dead, as on a real move.
func (h *Host) MoveTo(r *Router) {
	h.in.t.Helper()
	if h.Router() == nil {
		h.in.t.Fatalf("netlab: %s is a public machine, not a device behind a router", h.Name)
	}
	h.in.ip("-n", h.NS, "link", "del", "eth0")
	r.plug(h)
}

// Renumber gives the router a new public address on its link (11.K.0.N,
// N one more than the last), dropping the old one: every flow through it
// gets a new public address, as when a provider renumbers a home. It
// returns the new address.
func (r *Router) Renumber() string {
	in := r.in
	in.t.Helper()
	old := r.Public()
	parts := strings.Split(old, ".")
	last, _ := strconv.Atoi(parts[3])
	next := fmt.Sprintf("11.%d.0.%d", r.k, last+1)
	// The new address is a secondary one until the old goes.
	in.sysctl(r.NS, "net.ipv4.conf.wan.promote_secondaries=1")
	in.ip("-n", r.NS, "addr", "add", next+"/24", "dev", "wan")
	// Deleting the old address also drops the masquerade's flows on it.
	in.ip("-n", r.NS, "addr", "del", old+"/24", "dev", "wan")
	in.ip("-n", r.NS, "route", "replace", "default", "via", fmt.Sprintf("11.%d.0.1", r.k))
	r.mu.Lock()
	r.public = next
	r.mu.Unlock()
	return next
}

// Command returns the command name args run inside the host's namespace.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// ip runs the ip command; a failure fails the test.
func (in *Internet) ip(args ...string) {
	in.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		in.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// exec runs a command inside namespace ns; a failure fails the test.
func (in *Internet) exec(ns, name string, args ...string) {
	in.t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...).CombinedOutput(); err != nil {
		in.t.Fatalf("in %s: %s %s: %v: %s", ns, name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
}

// sysctl sets a kernel setting of namespace ns.
func (in *Internet) sysctl(ns, setting string) {
	in.t.Helper()
	in.exec(ns, "sysctl", "-qw", setting)
}

// deleteNetns deletes a namespace of the test. A process still in it is a
// leak of the test: it is reported, and killed since the test started it.
func deleteNetns(t testing.TB, ns string) {
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
}
