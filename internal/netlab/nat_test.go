package netlab_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trustsync/trustsync/internal/netlab"
)

// homes is the small internet of the end-to-end tests: a relay on the
// public segment, Alex's and Sam's homes each behind a router doing nat,
// and a café with a cone router of its own, where Sam may take the laptop.
type homes struct {
	in              *netlab.Internet
	relayHost       *netlab.Host
	alexNet, samNet *netlab.Router
	cafe            *netlab.Router
	alex, sam       *device
	relay           *proc
	relayAddr       string
}

// newHomes builds the internet, starts `trustsync relay` on it, inits both
// homes, records the relay on Alex's with `relay use`, and pairs Sam's
// device with Alex's through the invite. The two devices never learn an
// address of the other they could dial directly: each is behind its own
// router, on its own private LAN.
func newHomes(t *testing.T, nat netlab.NAT) *homes {
	t.Helper()
	w := &homes{in: netlab.New(t)}
	w.relayHost = w.in.Public("relay", 0)
	w.alexNet = w.in.Router("alexnet", nat, 0)
	w.samNet = w.in.Router("samnet", nat, 0)
	w.cafe = w.in.Router("cafe", netlab.Cone, 0)
	w.relay, w.relayAddr = startRelay(t, w.relayHost)
	t.Logf("relay at %s; Alex behind %s (%s), Sam behind %s (%s)", w.relayAddr, w.alexNet.Public(), nat, w.samNet.Public(), nat)

	w.alex = newDevice(t, w.alexNet.Host("alex"), "Alex")
	w.sam = newDevice(t, w.samNet.Host("sam"), "Sam")
	w.alex.must("relay", "use", w.relayAddr)
	if out := w.alex.must("relay", "list"); !strings.Contains(out, w.relayAddr) {
		t.Fatalf("relay list on Alex's device after relay use: %q, want %s", out, w.relayAddr)
	}
	pairThrough(t, w.alex, w.sam)
	// The relay reached Sam's device in the invite, and is in the space
	// both now share.
	if out := w.sam.must("relay", "list"); !strings.Contains(out, w.relayAddr) {
		t.Fatalf("relay list on Sam's device after pairing: %q, want %s", out, w.relayAddr)
	}
	return w
}

// pathOf returns what `trustsync status` on d says of the partner's
// device named partnerDevice: the last_path of `status --json` ("" before
// any sync), and the line of plain `status` under "How each device was
// reached at its last sync".
func pathOf(d *device, partnerDevice string) (path, line string) {
	d.t.Helper()
	out := d.must("status", "--json")
	var st struct {
		Members []struct {
			Devices []struct {
				Name     string  `json:"name"`
				LastPath *string `json:"last_path"`
			} `json:"devices"`
		} `json:"members"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		d.t.Fatalf("status --json on %s's device: %v\n%s", d.name, err, out)
	}
	for _, m := range st.Members {
		for _, dev := range m.Devices {
			if dev.Name == partnerDevice && dev.LastPath != nil {
				path = *dev.LastPath
			}
		}
	}
	reached := false
	for _, l := range strings.Split(d.must("status"), "\n") {
		if strings.HasPrefix(l, "How each device was reached") {
			reached = true
		} else if reached && strings.HasPrefix(strings.TrimSpace(l), partnerDevice+" ") {
			return path, strings.TrimSpace(l)
		}
	}
	return path, ""
}

// waitPath waits until `status` on d says partnerDevice was last reached
// by path (a last_path word) and returns the plain status line.
func waitPath(t testing.TB, d *device, partnerDevice, path string, within time.Duration, logs ...*proc) string {
	t.Helper()
	var got, line string
	took, ok := waitFor(within, func() bool {
		got, line = pathOf(d, partnerDevice)
		return got == path
	})
	if !ok {
		t.Fatalf("status on %s's device says %s was last reached by %q (%q) after %v, want %q%s", d.name, partnerDevice, got, line, within, path, dumpLogs(logs))
	}
	t.Logf("status on %s's device after %v: %s", d.name, took.Round(time.Millisecond), line)
	return line
}

// waitDirect waits until `status` on d says partnerDevice was last reached
// directly, through both routers: "hole punched" or "direct", never
// "relayed"; it returns the plain status line.
func waitDirect(t testing.TB, d *device, partnerDevice string, within time.Duration, logs ...*proc) string {
	t.Helper()
	var got, line string
	took, ok := waitFor(within, func() bool {
		got, line = pathOf(d, partnerDevice)
		return got == "hole punched" || got == "direct"
	})
	if !ok {
		t.Fatalf("status on %s's device says %s was last reached by %q (%q) after %v, want hole punched or direct%s", d.name, partnerDevice, got, line, within, dumpLogs(logs))
	}
	t.Logf("status on %s's device after %v: %s", d.name, took.Round(time.Millisecond), line)
	return line
}

// TestNAT_ConeHolePunched: Alex and Sam each behind a cone NAT. They pair
// through the relay; with both serving, an edit on either appears on the
// other; the connection is upgraded to a direct one by hole punching,
// which status says; edits made on both while Sam's device is offline
// merge when it is back; Sam takes the laptop to a café (new LAN address,
// new router, new public address) while serve runs, and edits still move
// both ways without a restart.
func TestNAT_ConeHolePunched(t *testing.T) {
	t.Parallel()
	w := newHomes(t, netlab.Cone)
	alexServe, samServe := w.alex.serve(), w.sam.serve()
	logs := []*proc{w.relay, alexServe, samServe}

	w.alex.must("boundary", "add", "Phones away at dinner")
	took := w.sam.waitBoundary("Phones away at dinner", 30*time.Second, "live edit from Alex", logs...)
	t.Logf("Alex's live edit reached Sam's device in %v", took)
	w.sam.must("boundary", "add", "We talk before bed")
	w.alex.waitBoundary("We talk before bed", 30*time.Second, "live edit from Sam", logs...)

	// The relayed connection is upgraded to a direct one through both
	// routers: by DCUtR ("hole punched"), or, when both devices already
	// know each other's public address, by a direct dial through the
	// holes their own packets opened, which status calls "direct".
	for _, d := range []struct {
		d       *device
		partner string
		serve   *proc
	}{{w.sam, "alex-laptop", samServe}, {w.alex, "sam-laptop", alexServe}} {
		line := waitDirect(t, d.d, d.partner, 30*time.Second, logs...)
		if strings.Contains(line, "hole punched") && !strings.Contains(d.serve.stderr.String(), "directly through both routers (hole punched)") {
			t.Errorf("%s does not say the partner's device is reached through both routers%s", d.serve.name, dumpLogs(logs))
		}
	}

	// Offline: Sam's device goes off; both edit; it comes back.
	samServe.stop(t)
	w.alex.must("boundary", "add", "Alex: no work email on Sundays")
	w.sam.must("boundary", "add", "Sam: a walk together on Saturdays")
	samServe = w.sam.serve()
	logs = []*proc{w.relay, alexServe, samServe}
	w.sam.waitBoundary("Alex: no work email on Sundays", 45*time.Second, "offline edit from Alex, after Sam's device came back", logs...)
	w.alex.waitBoundary("Sam: a walk together on Saturdays", 45*time.Second, "offline edit from Sam, after Sam's device came back", logs...)

	// Sam takes the laptop to the café, serve still running.
	w.sam.h.MoveTo(w.cafe)
	t.Logf("Sam's device moved to %s behind %s", w.sam.h.Addr(), w.cafe.Public())
	w.alex.must("boundary", "add", "Alex: call when you arrive")
	took = w.sam.waitBoundary("Alex: call when you arrive", 60*time.Second, "edit from Alex after Sam's device moved", logs...)
	t.Logf("after the move, Alex's edit reached Sam's device in %v", took)
	w.sam.must("boundary", "add", "Sam: arrived safe")
	w.alex.waitBoundary("Sam: arrived safe", 30*time.Second, "edit from Sam after the move", logs...)
	// The café's router is a cone NAT too: the two devices usually get
	// through directly again within seconds (hole punching retries for
	// 40 s); not waited for here, to keep the suite short under -race.
	p, line := pathOf(w.alex, "sam-laptop")
	t.Logf("after the move, status on Alex's device says %s: %s", p, line)

	alexServe.stop(t)
	samServe.stop(t)
	w.relay.stop(t)
}

// TestNAT_SymmetricStaysRelayed: Alex and Sam each behind a symmetric NAT,
// where hole punching cannot work. They pair through the relay, edits
// move live both ways over it, and status says the partner's device is
// relayed -- still after hole punching had its time to try.
func TestNAT_SymmetricStaysRelayed(t *testing.T) {
	t.Parallel()
	w := newHomes(t, netlab.Symmetric)
	alexServe, samServe := w.alex.serve(), w.sam.serve()
	logs := []*proc{w.relay, alexServe, samServe}

	w.alex.must("boundary", "add", "Phones away at dinner")
	w.sam.waitBoundary("Phones away at dinner", 30*time.Second, "live edit from Alex", logs...)
	w.sam.must("boundary", "add", "We talk before bed")
	w.alex.waitBoundary("We talk before bed", 30*time.Second, "live edit from Sam", logs...)
	// Hole punching tries within seconds of the relayed connection (the
	// first attempt a second after the session begins, the next after
	// 3 s); give it that time, then the path must still be the relay, and
	// sync still work over it.
	for _, d := range []struct {
		d       *device
		partner string
		serve   *proc
	}{{w.sam, "alex-laptop", samServe}, {w.alex, "sam-laptop", alexServe}} {
		line := waitPath(t, d.d, d.partner, "relayed", 30*time.Second, logs...)
		if want := "through the relay " + w.relayHost.Addr() + " port 4001"; !strings.Contains(line, want) {
			t.Errorf("status on %s's device says %q, want it to say %q", d.d.name, line, want)
		}
		if !strings.Contains(d.serve.stderr.String(), "through a relay") {
			t.Errorf("%s does not say the partner's device is reached through a relay%s", d.serve.name, dumpLogs(logs))
		}
	}
	time.Sleep(6 * time.Second)
	for _, d := range []struct {
		d       *device
		partner string
	}{{w.sam, "alex-laptop"}, {w.alex, "sam-laptop"}} {
		if p, line := pathOf(d.d, d.partner); p != "relayed" {
			t.Errorf("status on %s's device behind a symmetric NAT says %s was last reached by %q (%q), want relayed%s", d.d.name, d.partner, p, line, dumpLogs(logs))
		}
	}
	for _, p := range []*proc{alexServe, samServe} {
		if strings.Contains(p.stderr.String(), "hole punched") {
			t.Errorf("%s says a hole was punched through symmetric NATs%s", p.name, dumpLogs(logs))
		}
	}
	w.alex.must("boundary", "add", "Alex: still here")
	w.sam.waitBoundary("Alex: still here", 30*time.Second, "edit from Alex over the relay", logs...)

	alexServe.stop(t)
	samServe.stop(t)
	w.relay.stop(t)
}
