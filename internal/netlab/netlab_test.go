package netlab_test

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/netlab"
)

// probe runs `netprobe ask` from local port on h and returns, for each
// address asked, what the other end saw ("ip:port") and the round trip,
// or "timeout".
func probe(t *testing.T, h *netlab.Host, port string, addrs ...string) map[string][2]string {
	t.Helper()
	out, err := h.Command(netprobeBin(t), append([]string{"ask", port}, addrs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("netprobe ask on %s: %v: %s", h.Name, err, out)
	}
	seen := map[string][2]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[1] == "timeout":
			seen[f[0]] = [2]string{"timeout", ""}
		case len(f) == 3:
			seen[f[0]] = [2]string{f[1], f[2]}
		default:
			t.Fatalf("netprobe ask on %s: unexpected line %q", h.Name, line)
		}
	}
	return seen
}

// echo starts `netprobe echo port` on h until the test ends.
func echo(t *testing.T, h *netlab.Host, port string) {
	t.Helper()
	cmd := h.Command(netprobeBin(t), "echo", port)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() })
	if sc := bufio.NewScanner(out); !sc.Scan() || sc.Text() != "ready" {
		t.Fatalf("netprobe echo on %s did not start", h.Name)
	}
}

func netprobeBin(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("netprobe")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestInternet_Routers checks the small internet the end-to-end tests rely
// on, with UDP probes: a device behind a cone router keeps its source port
// towards two servers (hole punching can work), one behind a symmetric
// router gets a new random port per server (it cannot); both show their
// router's public address; nothing unsolicited gets in; no device reaches
// another home's private address; a device that moves shows its new
// router's address.
func TestInternet_Routers(t *testing.T) {
	in := netlab.New(t)
	s1, s2 := in.Public("stun1", 0), in.Public("stun2", 0)
	cone, sym := in.Router("cone", netlab.Cone, 0), in.Router("sym", netlab.Symmetric, 0)
	alex, sam := cone.Host("alex"), sym.Host("sam")
	for _, h := range []*netlab.Host{s1, s2, alex, sam} {
		echo(t, h, "3478")
	}
	servers := []string{s1.Addr() + ":3478", s2.Addr() + ":3478"}

	seen := probe(t, alex, "40000", servers...)
	for _, s := range servers {
		if want := cone.Public() + ":40000"; seen[s][0] != want {
			t.Errorf("behind the cone router, %s saw %s, want %s (public address, source port kept)", s, seen[s][0], want)
		}
	}
	seen = probe(t, sam, "40000", servers...)
	p1, p2 := seen[servers[0]][0], seen[servers[1]][0]
	if !strings.HasPrefix(p1, sym.Public()+":") || !strings.HasPrefix(p2, sym.Public()+":") {
		t.Errorf("behind the symmetric router, the servers saw %s and %s, want %s", p1, p2, sym.Public())
	}
	if p1 == p2 || strings.HasSuffix(p1, ":40000") {
		t.Errorf("behind the symmetric router, the servers saw %s and %s: want a new random port per server", p1, p2)
	}

	// Unsolicited: a server asks the routers' public addresses, where the
	// devices' echoes listen behind them; another home's private address.
	seen = probe(t, s1, "5000", cone.Public()+":3478", sym.Public()+":3478")
	for a, s := range seen {
		if s[0] != "timeout" {
			t.Errorf("a packet from the internet to %s, which no device asked for, got in: answered %s", a, s[0])
		}
	}
	if s := probe(t, alex, "5001", sam.Addr()+":3478")[sam.Addr()+":3478"]; s[0] != "timeout" {
		t.Errorf("Alex's device reached Sam's private address %s: answered %s", sam.Addr(), s[0])
	}

	// Sam takes the laptop to the cone router's LAN.
	old := sam.Addr()
	sam.MoveTo(cone)
	if sam.Addr() == old || !strings.HasPrefix(sam.Addr(), "10.") {
		t.Errorf("after the move Sam's device has address %s (was %s)", sam.Addr(), old)
	}
	seen = probe(t, sam, "40001", servers[0])
	if want := cone.Public() + ":40001"; seen[servers[0]][0] != want {
		t.Errorf("after the move %s saw Sam's device as %s, want %s", servers[0], seen[servers[0]][0], want)
	}
	if s := probe(t, sam, "5002", alex.Addr()+":3478")[alex.Addr()+":3478"]; !strings.HasPrefix(s[0], sam.Addr()+":") {
		t.Errorf("after the move, Sam's device does not reach Alex's on their shared LAN: %v", s)
	}

	// The cone router is renumbered.
	before := cone.Public()
	after := cone.Renumber()
	seen = probe(t, alex, "40002", servers[0])
	if after == before || seen[servers[0]][0] != after+":40002" {
		t.Errorf("after renumbering %s to %s, the server saw %s", before, after, seen[servers[0]][0])
	}
}

// TestInternet_Delay checks that a delayed link holds each packet for its
// delay each way: two public machines whose links both delay 20 ms see a
// round trip of at least 80 ms.
func TestInternet_Delay(t *testing.T) {
	in := netlab.New(t)
	const d = 20 * time.Millisecond
	a, b := in.Public("a", d), in.Public("b", d)
	echo(t, b, "3478")
	s := probe(t, a, "4000", b.Addr()+":3478")[b.Addr()+":3478"]
	if s[0] != a.Addr()+":4000" {
		t.Fatalf("over delayed links, %s saw %s, want %s:4000", b.Name, s[0], a.Addr())
	}
	rtt, err := time.ParseDuration(s[1])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round trip over two links delaying %v each way (%s): %v", d, in.DelayKind(), rtt)
	if rtt < 4*d || rtt > 4*d+200*time.Millisecond {
		t.Errorf("round trip %v over two links delaying %v each way: want about %v", rtt, d, 4*d)
	}
}
