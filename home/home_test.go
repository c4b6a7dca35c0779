package home_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide workers of libp2p's dependencies, started once.
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/tcpreuse.(*ConnMgr).dial"),
	)
}

const pass = "correct horse battery staple"

var fastKDF = home.KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

// create makes a home in a new temporary directory, loopback only.
func create(t *testing.T, encrypt bool, keeper home.Keeper) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "home")
	opts := home.CreateOptions{
		Options: home.Options{Keeper: keeper},
		Name:    "Alex", Device: "alex-laptop", Listen: []string{"/ip4/127.0.0.1/tcp/0"}, NoMDNS: true,
		Encrypt: encrypt, KDF: fastKDF,
	}
	if encrypt {
		opts.Passphrase = []byte(pass)
	}
	h, err := home.Create(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runtimeKeeper keeps keys in files of a directory of the test's own.
func runtimeKeeper(t *testing.T) home.Keeper {
	run := filepath.Join(t.TempDir(), "run")
	if err := os.Mkdir(run, 0o700); err != nil {
		t.Fatal(err)
	}
	return &keys.Keeper{RuntimeDir: filepath.Join(run, "trustsync")}
}

func TestOpen_Refusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name string
		dir  string
		want error
	}{
		{"missing directory", filepath.Join(t.TempDir(), "nothing"), trustsync.ErrNotInitialized},
		{"a file", file, home.ErrNotDir},
		{"empty directory", empty, trustsync.ErrNotInitialized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := home.Open(tt.dir, home.Options{Keeper: home.NoKeeper()})
			if !errors.Is(err, tt.want) {
				if h != nil {
					h.Close()
				}
				t.Fatalf("Open: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(t.TempDir(), "nothing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open made the missing directory: %v", err)
	}
}

func TestCreate_AlreadyInitialized(t *testing.T) {
	dir := create(t, false, home.NoKeeper())
	_, err := home.Create(dir, home.CreateOptions{Options: home.Options{Keeper: home.NoKeeper()}, Name: "Someone"})
	if !errors.Is(err, trustsync.ErrAlreadyInitialized) {
		t.Fatalf("second Create: %v, want ErrAlreadyInitialized", err)
	}
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := h.Space().Self().MemberName; got != "Alex" {
		t.Errorf("after a refused Create the home belongs to %q, want Alex", got)
	}
}

func TestOpen_LostSpace(t *testing.T) {
	dir := create(t, false, home.NoKeeper())
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	j, err := h.OpenJournal(context.Background(), home.JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Add(context.Background(), "a private note", 0); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(j.Close(), h.Close()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{store.FileName, store.FileName + "-wal", store.FileName + "-shm"} {
		os.Remove(filepath.Join(dir, f))
	}
	if err := os.WriteFile(filepath.Join(dir, store.FileName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	var damaged *trustsync.DamagedError
	if !errors.As(err, &damaged) || !strings.Contains(damaged.Why, "a journal") {
		t.Fatalf("Open of a home whose database lost its space: %v, want a DamagedError naming the journal", err)
	}
}

// TestEncrypted_LockUnlock: an encrypted home opens with its passphrase or
// a kept key; Lock forgets the key and says whether there was one.
func TestEncrypted_LockUnlock(t *testing.T) {
	ctx := context.Background()
	k := runtimeKeeper(t)
	dir := create(t, true, k)

	if _, err := home.Open(dir, home.Options{Keeper: k}); !errors.Is(err, home.ErrLocked) {
		t.Fatalf("Open without a passphrase: %v, want ErrLocked", err)
	}
	if _, err := home.Open(dir, home.Options{Keeper: k, Passphrase: []byte("wrong passphrase")}); !errors.Is(err, home.ErrWrongPassphrase) {
		t.Fatalf("Open with a wrong passphrase: %v, want ErrWrongPassphrase", err)
	}
	h, err := home.Open(dir, home.Options{Keeper: k, Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.Space().AddBoundary(ctx, "CANARY we talk before big purchases")
	if err != nil {
		t.Fatal(err)
	}
	if !h.Encrypted() {
		t.Error("Encrypted() is false for an encrypted home")
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "CANARY") {
		t.Error("the database holds the boundary's text in the clear")
	}

	if _, err := home.Unlock(dir, home.Options{Keeper: k, Passphrase: []byte("wrong passphrase")}); !errors.Is(err, home.ErrWrongPassphrase) {
		t.Fatalf("Unlock with a wrong passphrase: %v", err)
	}
	if _, err := home.Unlock(dir, home.Options{Keeper: k, Passphrase: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	h, err = home.Open(dir, home.Options{Keeper: k})
	if err != nil {
		t.Fatalf("Open after Unlock: %v", err)
	}
	if _, err := h.Space().Boundary(ctx, id); err != nil {
		t.Fatal(err)
	}
	h.Close()

	r, err := home.Lock(dir, home.Options{Keeper: k})
	if err != nil || !r.Forgot || !r.CanKeep || r.Online != nil {
		t.Fatalf("Lock: %+v, %v; want the key forgotten", r, err)
	}
	if _, err := home.Open(dir, home.Options{Keeper: k}); !errors.Is(err, home.ErrLocked) {
		t.Fatalf("Open after Lock: %v, want ErrLocked", err)
	}
	if r, err := home.Lock(dir, home.Options{Keeper: k}); err != nil || r.Forgot {
		t.Fatalf("second Lock: %+v, %v; want nothing forgotten", r, err)
	}
	if r, err := home.Lock(dir, home.Options{Keeper: home.NoKeeper()}); err != nil || r.CanKeep {
		t.Fatalf("Lock with nowhere to keep: %+v, %v; want CanKeep false", r, err)
	}
	if _, err := home.Unlock(dir, home.Options{Keeper: home.NoKeeper(), Passphrase: []byte(pass)}); !errors.Is(err, home.ErrNowhereToKeep) {
		t.Fatalf("Unlock with nowhere to keep: %v", err)
	}

	plain := create(t, false, k)
	if _, err := home.Lock(plain, home.Options{Keeper: k}); !errors.Is(err, home.ErrNotEncrypted) {
		t.Errorf("Lock of a home without encryption: %v", err)
	}
}

// stuckKeeper is a keyring that answers Get but never deletes.
type stuckKeeper struct{ key []byte }

func (s *stuckKeeper) Put(id string, key []byte) (string, error) {
	s.key = key
	return "a keyring", nil
}
func (s *stuckKeeper) Get(id string) ([]byte, error) {
	if s.key == nil {
		return nil, keys.ErrNotKept
	}
	return s.key, nil
}
func (s *stuckKeeper) Delete(id string) error { return nil }
func (s *stuckKeeper) CanKeep() bool          { return true }

func TestLock_StillKept(t *testing.T) {
	k := &stuckKeeper{}
	dir := create(t, true, k)
	if _, err := home.Unlock(dir, home.Options{Keeper: k, Passphrase: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Lock(dir, home.Options{Keeper: k}); !errors.Is(err, home.ErrStillKept) {
		t.Fatalf("Lock with a keyring that does not delete: %v, want ErrStillKept", err)
	}
}

func TestJournal_OwnPassphrase(t *testing.T) {
	ctx := context.Background()
	dir := create(t, true, home.NoKeeper())
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper(), Passphrase: []byte(pass)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	j, err := h.OpenJournal(ctx, home.JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Add(ctx, "still angry", 2); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := h.SetJournalPassphrase(ctx, []byte("short"), fastKDF); !errors.Is(err, home.ErrShortPassphrase) {
		t.Fatalf("SetJournalPassphrase with 5 characters: %v", err)
	}
	if err := h.SetJournalPassphrase(ctx, []byte("journal only words"), fastKDF); err != nil {
		t.Fatal(err)
	}
	if _, err := h.OpenJournal(ctx, home.JournalOptions{}); !errors.Is(err, home.ErrJournalLocked) {
		t.Fatalf("OpenJournal without its passphrase: %v, want ErrJournalLocked", err)
	}
	if _, err := h.OpenJournal(ctx, home.JournalOptions{Passphrase: []byte(pass)}); !errors.Is(err, home.ErrWrongPassphrase) {
		t.Fatalf("OpenJournal with the home's passphrase: %v, want ErrWrongPassphrase", err)
	}
	j, err = h.OpenJournal(ctx, home.JournalOptions{Passphrase: []byte("journal only words")})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	es, err := j.Entries(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Text != "still angry" {
		t.Fatalf("journal after the new passphrase: %+v", es)
	}
}

// TestHome_StartNode_KeepsPort: a stored port 0 is bound by the system at
// the first start and kept; the next start listens on it again.
func TestHome_StartNode_KeepsPort(t *testing.T) {
	ctx := context.Background()
	dir := create(t, false, home.NoKeeper())
	start := func() string {
		h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		n, err := h.StartNode(ctx, home.NodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		addrs := n.ListenAddrs()
		cfg, err := h.Config(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(addrs) != 1 || len(cfg.Listen) != 1 || addrs[0] != cfg.Listen[0] || strings.HasSuffix(addrs[0], "/tcp/0") {
			t.Fatalf("listened on %v, stored %v: want the bound port stored", addrs, cfg.Listen)
		}
		return addrs[0]
	}
	first := start()
	if again := start(); again != first {
		t.Fatalf("second start on %s, want the kept %s", again, first)
	}
}

func TestHome_StartNode_PortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	dir := create(t, false, home.NoKeeper())
	h, err := home.Open(dir, home.Options{Keeper: home.NoKeeper()})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.StartNode(context.Background(), home.NodeOptions{Listen: []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(port)}})
	var inUse *home.PortInUseError
	if !errors.As(err, &inUse) || inUse.Port != port {
		t.Fatalf("StartNode on a taken port: %v, want a PortInUseError for %d", err, port)
	}
}

func TestLockNetwork(t *testing.T) {
	dir := create(t, false, home.NoKeeper())
	if got := home.NetworkHolder(dir); got != nil {
		t.Fatalf("holder before any lock: %+v", got)
	}
	release, err := home.LockNetwork(dir, "serve")
	if err != nil {
		t.Fatal(err)
	}
	_, err = home.LockNetwork(dir, "sync")
	var busy *home.NetworkBusyError
	if !errors.As(err, &busy) || busy.PID != os.Getpid() || busy.Purpose != "serve" {
		t.Fatalf("second LockNetwork: %v, want busy by pid %d serve", err, os.Getpid())
	}
	if got := home.NetworkHolder(dir); got == nil || got.Purpose != "serve" {
		t.Fatalf("holder while locked: %+v", got)
	}
	release()
	release, err = home.LockNetwork(dir, "sync")
	if err != nil {
		t.Fatalf("LockNetwork after release: %v", err)
	}
	release()
}
