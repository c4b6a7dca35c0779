package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/trustsync/trustsync/crdt"
	tshome "github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/benchkit"
	"github.com/trustsync/trustsync/internal/testpair"
	"github.com/trustsync/trustsync/store"
	tsync "github.com/trustsync/trustsync/sync"
)

// TestMain lets the test binary act as the trustsync command, so that the
// scripts and the benchmarks run the real main in its own process (a
// serve started by a benchmark for heap profiles also writes them on
// SIGUSR1).
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"trustsync": func() {
		benchkit.HandleHeapSignal()
		stop := benchkit.StartCPUProfile()
		code := run()
		stop()
		os.Exit(code)
	}})
}

// TestScripts runs the end-to-end scripts in testdata/script. Besides the
// standard commands they can use:
//
//	exits N prog [args...]   run prog, expecting exit code N
//	capture NAME             set $NAME to the last standard output, trimmed
//	json PATH WANT           the last standard output is JSON whose value at
//	                         PATH (dot-separated keys and indexes; a final
//	                         "#" for a length) encodes to WANT
//	pair HOME1 HOME2         join HOME2 to HOME1's space, as pairing does,
//	                         recording each device's libp2p peer ID
//	sync HOME1 HOME2         copy every document both ways, as sync does
//	start NAME prog [args...] run prog in the background, its standard
//	                         output and error going to $WORK/NAME.out and
//	                         $WORK/NAME.err (killed when the script ends)
//	await NAME REGEXP        wait up to 30s until NAME.out or NAME.err has
//	                         a line matching REGEXP
//	grab NAME REGEXP VAR...  like await, then set each VAR to the next
//	                         submatch of the line found
//	halt NAME [SIG [N]]      send SIG (INT or TERM, default INT) to NAME,
//	                         wait up to 30s, and expect exit code N (default 0)
//	legacy NAME HOME         copy testdata/legacy/NAME, a home made by the
//	                         version before signed changes, to HOME
//	sql HOME STATEMENT       run STATEMENT on the SQLite database of HOME,
//	                         which must change at least one row: damage as
//	                         bit rot or a careless tool would make it
//
// pair and sync use the library directly and no network: they stand in for
// the real pairing and for copying documents in scripts about other things.
// pair records each device's peer ID and kept listen addresses, so that the
// real sync commands can then find each other on 127.0.0.1.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":   cmdExits,
			"capture": cmdCapture,
			"json":    cmdJSON,
			"pair":    cmdPair,
			"sync":    cmdSync,
			"start":   cmdStart,
			"await":   cmdAwait,
			"grab":    cmdGrab,
			"halt":    cmdHalt,
			"sql":     cmdSQL,
			"legacy":  cmdLegacy,
		},
	})
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N prog [args...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		got = exitErr.ExitCode()
	case err != nil:
		ts.Fatalf("%s: %v", args[1], err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func cmdCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture NAME")
	}
	v := strings.TrimSpace(ts.ReadFile("stdout"))
	if v == "" || strings.Contains(v, "\n") {
		ts.Fatalf("capture %s: stdout is %q, want one line", args[0], v)
	}
	ts.Setenv(args[0], v)
}

func cmdJSON(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: json PATH WANT")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile("stdout")), &v); err != nil {
		ts.Fatalf("stdout is not one JSON value: %v", err)
	}
	if args[0] != "." {
		for _, key := range strings.Split(args[0], ".") {
			switch cur := v.(type) {
			case map[string]any:
				if key == "#" {
					v = float64(len(cur))
					continue
				}
				var ok bool
				if v, ok = cur[key]; !ok {
					ts.Fatalf("json %s: no key %q", args[0], key)
				}
			case []any:
				if key == "#" {
					v = float64(len(cur))
					continue
				}
				i, err := strconv.Atoi(key)
				if err != nil || i < 0 || i >= len(cur) {
					ts.Fatalf("json %s: no index %q in an array of %d", args[0], key, len(cur))
				}
				v = cur[i]
			default:
				ts.Fatalf("json %s: cannot look up %q in %v", args[0], key, cur)
			}
		}
	}
	b, err := json.Marshal(v)
	ts.Check(err)
	if got := string(b); (got == args[1]) == neg {
		if neg {
			ts.Fatalf("json %s is %s", args[0], got)
		}
		ts.Fatalf("json %s is %s, want %s", args[0], got, args[1])
	}
}

// withSpace opens the space of a home through the library.
func withSpace(ts *testscript.TestScript, home string, fn func(ctx context.Context, sp *crdt.Space)) {
	ctx := context.Background()
	st, err := store.Open(ts.MkAbs(home), store.Options{})
	ts.Check(err)
	defer st.Close()
	sp, err := crdt.Open(ctx, st, crdt.Options{})
	ts.Check(err)
	defer sp.Close()
	fn(ctx, sp)
}

// listenAddrs returns the listen addresses a home keeps. The device goes
// online once on its stored addresses first, as it does when it pairs, so
// that a port 0 given at init is replaced by the port it got and kept, and
// its device key exists.
func listenAddrs(ts *testscript.TestScript, home string) []string {
	h, err := tshome.Open(ts.MkAbs(home), tshome.Options{Keeper: tshome.NoKeeper()})
	ts.Check(err)
	defer h.Close()
	ctx := context.Background()
	n, err := h.StartNode(ctx, tshome.NodeOptions{NoMDNS: true})
	ts.Check(err)
	ts.Check(n.Close())
	_, err = tsync.DevicePeerID(ctx, h.Store())
	ts.Check(err)
	cfg, err := h.Config(ctx)
	ts.Check(err)
	return cfg.Listen
}

func cmdPair(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: pair HOME1 HOME2")
	}
	// By hand, as a pairing leaves them (internal/testpair), each device
	// record holding the listen addresses the other home keeps; then
	// every document is copied both ways.
	aAddrs, bAddrs := listenAddrs(ts, args[0]), listenAddrs(ts, args[1])
	withSpace(ts, args[0], func(_ context.Context, a *crdt.Space) {
		withSpace(ts, args[1], func(_ context.Context, b *crdt.Space) {
			testpair.Nodes(ts, testpair.Node{Space: a, Addrs: aAddrs}, testpair.Node{Space: b, Addrs: bAddrs})
		})
	})
	cmdSync(ts, false, args)
}

func cmdSync(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sync HOME1 HOME2")
	}
	copyDocs := func(from, to string) {
		docs := map[string][]byte{}
		var order []string
		var fromID string
		withSpace(ts, from, func(ctx context.Context, sp *crdt.Space) {
			fromID = sp.Self().DeviceID
			ids, err := sp.Docs(ctx)
			ts.Check(err)
			for _, doc := range ids {
				data, err := sp.SaveSigned(ctx, doc)
				ts.Check(err)
				docs[doc] = data
				// The space document first, as a session sends it: its
				// certificates and seals vouch for the other changes.
				if doc == crdt.SpaceDoc {
					order = append([]string{doc}, order...)
				} else {
					order = append(order, doc)
				}
			}
		})
		withSpace(ts, to, func(ctx context.Context, sp *crdt.Space) {
			for _, doc := range order {
				if data := docs[doc]; data != nil {
					_, err := sp.Import(ctx, doc, data, fromID)
					ts.Check(err)
				}
			}
		})
	}
	copyDocs(args[0], args[1])
	copyDocs(args[1], args[0])
}

func cmdSQL(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: sql HOME STATEMENT")
	}
	db, err := sql.Open("sqlite3", filepath.Join(ts.MkAbs(args[0]), store.FileName))
	ts.Check(err)
	defer db.Close()
	res, err := db.Exec(args[1])
	ts.Check(err)
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		ts.Fatalf("sql %s: changed no row (%v)", args[1], err)
	}
}

func cmdLegacy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: legacy NAME HOME")
	}
	b, err := os.ReadFile(filepath.Join("testdata", "legacy", args[0], "trustsync.db"))
	ts.Check(err)
	dir := ts.MkAbs(args[1])
	ts.Check(os.MkdirAll(dir, 0o700))
	ts.Check(os.WriteFile(filepath.Join(dir, "trustsync.db"), b, 0o600))
}
