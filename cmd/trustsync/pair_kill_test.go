package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
	"github.com/trustsync/trustsync/internal/faults"
	"github.com/trustsync/trustsync/store"
)

// pairState is what pairing may change in a home, read through the
// library once no process uses the home.
type pairState struct {
	self    crdt.Identity
	members []trustsync.Member
	docs    string   // every document with its heads
	history []string // the summaries, newest first
}

func readPairState(t *testing.T, home string) pairState {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(home, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sp, err := crdt.Open(ctx, st, crdt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	s := pairState{self: sp.Self()}
	if s.members, err = sp.Members(ctx); err != nil {
		t.Fatal(err)
	}
	docs, err := sp.Docs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, doc := range docs {
		heads, err := sp.Heads(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s\n", doc, strings.Join(heads, ","))
	}
	s.docs = b.String()
	hs, err := sp.History(ctx, crdt.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		s.history = append(s.history, h.Summary)
	}
	return s
}

func (s pairState) String() string {
	id, _ := json.Marshal(s.self)
	ms, _ := json.Marshal(s.members)
	return fmt.Sprintf("identity %s\nmembers %s\ndocs\n%shistory %q", id, ms, s.docs, s.history)
}

// same reports whether two states are the same logical home.
func (s pairState) same(o pairState) bool {
	return s.String() == o.String()
}

// pairedWith says why a home is not fully paired with the device other
// (owned by the person owner) in the space spaceID, "" when it is: it has
// the space ID, two members, its own device and the other one current and
// with their peer IDs, both owned by the right people, and the pairing in
// its history.
func (s pairState) pairedWith(spaceID, other, otherName, owner string) string {
	if s.self.SpaceID != spaceID {
		return "its space ID is not the inviting device's"
	}
	if len(s.members) != 2 {
		return fmt.Sprintf("it has %d members", len(s.members))
	}
	var found, self bool
	for _, m := range s.members {
		for _, d := range m.Devices {
			switch d.ID {
			case other:
				if m.Name != owner || d.Removed || d.PeerID == "" {
					return fmt.Sprintf("the other device is %+v, of %s", d, m.Name)
				}
				found = true
			case s.self.DeviceID:
				if m.ID != s.self.MemberID || d.PeerID == "" {
					return fmt.Sprintf("its own device is %+v, of %s", d, m.Name)
				}
				self = true
			}
		}
	}
	if !found || !self {
		return fmt.Sprintf("the other device listed: %v, its own: %v", found, self)
	}
	if !slices.ContainsFunc(s.history, func(h string) bool {
		return strings.HasPrefix(h, "paired with the device "+fmt.Sprintf("%q", otherName)) ||
			strings.HasPrefix(h, "paired again with the device "+fmt.Sprintf("%q", otherName))
	}) {
		return "its history does not show the pairing"
	}
	return ""
}

// warmUp runs a networking command once, so that the home records its
// peer ID and addresses: a home that never went online does so at its
// first 'pair', which is not a change pairing makes.
func warmUp(t *testing.T, homes ...string) {
	t.Helper()
	var wg sync.WaitGroup
	for _, h := range homes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := fltCmd(t, h, nil, "pair", "--timeout", "300ms")
			_ = cmd.Run() // the invite expires: exit 1
		}()
	}
	wg.Wait()
}

// startInviter starts 'trustsync pair' on home and returns it with the
// invite it printed; the rest of its standard output is drained, its
// standard error goes to stderr (read it once the process has ended).
func startInviter(t *testing.T, home string, stderr io.Writer) (*exec.Cmd, string) {
	t.Helper()
	cmd := fltCmd(t, home, nil, "pair", "--timeout", "60s")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	invite := ""
	for lines.Scan() {
		if s, ok := strings.CutPrefix(lines.Text(), "invite: "); ok {
			invite = s
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if invite == "" {
		kill(cmd)
		t.Fatal("pair printed no invite")
	}
	return cmd, invite
}

// exited waits up to d for cmd to end on its own.
func exited(done <-chan struct{}, d time.Duration) bool {
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// TestPair_KilledMidPairing starts a real pairing between two real homes
// and SIGKILLs the inviting or the joining 'trustsync pair' at a random
// moment of it, round after round: a partner's first device, or a further
// device of a person joining through that person's device. The process
// left alone finishes or is stopped. Each home must then be exactly as it
// was or fully paired -- never half -- and a joining home can be paired
// only if the inviting one is. Unless both are paired, a fresh pairing of
// the same two homes then succeeds. TRUSTSYNC_LONG=1 runs more rounds.
func TestPair_KilledMidPairing(t *testing.T) {
	rounds := faults.N(6, 40)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 11))

	// How long a joining 'pair' takes from its start to its code: the
	// kills are spread over that time and a little more.
	span := func() time.Duration {
		a, b := t.TempDir(), t.TempDir()
		fltInit(t, a, "Alex")
		fltInit(t, b, "Sam")
		warmUp(t, a, b)
		inviter, invite := startInviter(t, a, io.Discard)
		defer kill(inviter)
		joiner := fltCmd(t, b, nil, "pair", invite)
		out, err := joiner.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := joiner.Start(); err != nil {
			t.Fatal(err)
		}
		defer kill(joiner)
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), "code: ") {
				return time.Since(start)
			}
		}
		t.Fatal("the joining pair printed no code")
		return 0
	}()
	t.Logf("a joining 'pair' prints its code %v after it starts", span.Round(time.Millisecond))

	outcomes := map[string]int{}
	killedInviter, killedJoiner, stopped := 0, 0, 0
	for r := range rounds {
		further := r%2 == 1
		// inviter and joiner homes, and who owns each device.
		alex, sam := t.TempDir(), t.TempDir()
		fltInit(t, alex, "Alex")
		fltInit(t, sam, "Sam")
		if _, stderr, code := fltRun(t, sam, nil, "boundary", "add", "written by Sam before pairing"); code != 0 {
			t.Fatalf("boundary add: %s", stderr)
		}
		inviterHome, joinerHome := alex, sam
		inviterOwner, joinerOwner := "Alex", "Sam"
		inviterDev, joinerDev := "Alex-laptop", "Sam-laptop"
		if further {
			pairHomes(t, alex, sam)
			phone := t.TempDir()
			if _, stderr, code := fltRun(t, phone, nil, "init", "--name", "Sam", "--device", "Sam-phone",
				"--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"); code != 0 {
				t.Fatalf("init: %s", stderr)
			}
			inviterHome, joinerHome = sam, phone
			inviterOwner, joinerOwner = "Sam", "Sam"
			inviterDev, joinerDev = "Sam-laptop", "Sam-phone"
		}
		warmUp(t, inviterHome, joinerHome)
		beforeI, beforeJ := readPairState(t, inviterHome), readPairState(t, joinerHome)
		spaceID := beforeI.self.SpaceID

		var inviterErr strings.Builder
		inviter, invite := startInviter(t, inviterHome, &inviterErr)
		joiner := fltCmd(t, joinerHome, nil, "pair", invite)
		if err := joiner.Start(); err != nil {
			t.Fatal(err)
		}
		done := map[*exec.Cmd]chan struct{}{inviter: make(chan struct{}), joiner: make(chan struct{})}
		for cmd, ch := range done {
			go func() { _ = cmd.Wait(); close(ch) }()
		}
		// Half the kills anywhere from the start to a little after the
		// code, half in the last stretch before it, where the exchange
		// runs (the process starts before).
		delay := time.Duration(rng.Int64N(int64(span) * 6 / 5))
		if r%4 >= 2 {
			delay = span/2 + time.Duration(rng.Int64N(int64(span)/2))
		}
		time.Sleep(delay)
		victim, survivor := joiner, inviter
		if rng.IntN(2) == 0 {
			victim, survivor = inviter, joiner
			killedInviter++
		} else {
			killedJoiner++
		}
		_ = victim.Process.Signal(syscall.SIGKILL)
		<-done[victim]
		// The other side ends by itself (its exchange broke, or it
		// finished), or is stopped: an inviter still waiting for a
		// joining device that died before it spoke waits for its
		// timeout, and one that paired syncs for up to 10s.
		stoppedNow := false
		if !exited(done[survivor], 3*time.Second) {
			stopped++
			stoppedNow = true
			_ = survivor.Process.Signal(syscall.SIGINT)
			if !exited(done[survivor], 15*time.Second) {
				_ = survivor.Process.Signal(syscall.SIGKILL)
				<-done[survivor]
			}
		}

		afterI, afterJ := readPairState(t, inviterHome), readPairState(t, joinerHome)
		classify := func(who string, before, after pairState, other, otherName, owner string) string {
			if after.same(before) {
				return "unchanged"
			}
			if why := after.pairedWith(spaceID, other, otherName, owner); why != "" {
				t.Errorf("round %d (%s killed after %v): the %s home is half paired: %s\nbefore:\n%v\nafter:\n%v",
					r, map[bool]string{true: "inviter", false: "joiner"}[victim == inviter], delay, who, why, before, after)
				return "half"
			}
			return "paired"
		}
		oi := classify("inviting", beforeI, afterI, beforeJ.self.DeviceID, joinerDev, joinerOwner)
		oj := classify("joining", beforeJ, afterJ, beforeI.self.DeviceID, inviterDev, inviterOwner)
		if oj == "paired" && oi != "paired" {
			t.Errorf("round %d: the joining home is paired and the inviting one %s", r, oi)
		}
		// An inviting 'pair' that paired while the other did not says so.
		if oi == "paired" && oj == "unchanged" && victim != inviter &&
			!strings.Contains(inviterErr.String(), "The other device stopped before it said it had finished pairing") {
			t.Errorf("round %d: the inviting pair (stopped: %v) does not say the other device did not finish:\n%s", r, stoppedNow, inviterErr.String())
		}
		who := map[bool]string{true: "inviter killed", false: "joiner killed"}[victim == inviter]
		outcomes[fmt.Sprintf("%s: inviter %s, joiner %s", who, oi, oj)]++
		t.Logf("round %d (%s): %s after %v: inviter %s, joiner %s", r,
			map[bool]string{false: "partner", true: "further device"}[further], who, delay.Round(time.Millisecond), oi, oj)

		// Unless both are paired already (a device refuses an invite of
		// one it is paired with), a fresh pairing of the same homes
		// succeeds.
		if oi != "paired" || oj != "paired" {
			pairHomes(t, inviterHome, joinerHome)
		}
		pi, pj := readPairState(t, inviterHome), readPairState(t, joinerHome)
		if why := pi.pairedWith(spaceID, beforeJ.self.DeviceID, joinerDev, joinerOwner); why != "" {
			t.Fatalf("round %d: after pairing again the inviting home is not paired: %s\n%v", r, why, pi)
		}
		if why := pj.pairedWith(spaceID, beforeI.self.DeviceID, inviterDev, inviterOwner); why != "" {
			t.Fatalf("round %d: after pairing again the joining home is not paired: %s\n%v", r, why, pj)
		}
	}
	var keys []string
	for k := range outcomes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sum []string
	for _, k := range keys {
		sum = append(sum, fmt.Sprintf("%s: %d", k, outcomes[k]))
	}
	t.Logf("%d rounds (%d further-device), inviter killed %d times, joiner %d times, the other side stopped %d times; outcomes:\n%s",
		rounds, rounds/2, killedInviter, killedJoiner, stopped, strings.Join(sum, "\n"))
}
