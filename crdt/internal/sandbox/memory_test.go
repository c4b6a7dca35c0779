package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// bigTextDoc returns a saved document holding one Text of n characters.
// Saved, it is a few hundred bytes (Automerge compresses the run), but
// loading it costs about 1.5 KB of memory per character.
func bigTextDoc(t *testing.T, n int) []byte {
	t.Helper()
	d := automerge.New()
	if err := d.RootMap().Set("note", automerge.NewText("")); err != nil {
		t.Fatal(err)
	}
	v, err := d.RootMap().Get("note")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Text().Insert(0, strings.Repeat("x", n)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("note"); err != nil {
		t.Fatal(err)
	}
	return d.Save()
}

// TestMemoryLimit_InputRefused: a small document that needs more memory to
// load than the child may take is rejected as a crash, quickly, naming the
// limit; the next good input is checked by a new child.
// testLimit is the child's memory limit in these tests, and bigText the
// length of a text that needs more than that to load. A child built with
// the race detector takes several hundred MiB of its own.
var testLimit, bigText = func() (int64, int) {
	if raceEnabled {
		return 768 << 20, 900_000
	}
	return 128 << 20, 200_000
}()

func TestMemoryLimit_InputRefused(t *testing.T) {
	c := New(Options{MaxMemory: testLimit})
	defer c.Close()
	ctx := context.Background()
	data := bigTextDoc(t, bigText)
	start := time.Now()
	err := c.CheckImport(ctx, "big", nil, data)
	took := time.Since(start)
	if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrCrashed) {
		t.Fatalf("a %d-byte document needing ~%d MB under a %d MiB limit: %v", len(data), bigText*3/2000, testLimit>>20, err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("limit of %d MiB", testLimit>>20)) {
		t.Errorf("the refusal does not name the memory limit: %v", err)
	}
	if took > 20*time.Second {
		t.Errorf("refusing it took %v", took)
	}
	t.Logf("%v after %v", err, took)

	good := newDoc(t, 20)
	if err := c.CheckImport(ctx, "good", nil, good.Save()); err != nil {
		t.Fatalf("a good document after the refused one: %v", err)
	}
	if st := c.Stats(); st.Starts != 2 || st.Crashes != 1 || st.Rejected != 1 {
		t.Fatalf("stats %+v, want 2 starts, 1 crash, 1 rejection", st)
	}
}

// TestMemoryLimit_GoHeap: a request that makes the child's Go code
// allocate past the limit ("alloc" hook: 1 GiB on every sync message) is
// rejected as a crash, and the parent keeps working.
func TestMemoryLimit_GoHeap(t *testing.T) {
	c := New(Options{MaxMemory: testLimit, Command: hooked(t, "alloc")})
	defer c.Close()
	ctx := context.Background()
	d := newDoc(t, 3)
	err := c.CheckMessage(ctx, "doc", d, nil, []byte{0x42})
	if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrCrashed) || !strings.Contains(err.Error(), fmt.Sprintf("limit of %d MiB", testLimit>>20)) {
		t.Fatalf("a child allocating 1 GiB under a %d MiB limit: %v", testLimit>>20, err)
	}
	if err := c.CheckImport(ctx, "other", nil, newDoc(t, 10).Save()); err != nil {
		t.Fatalf("a good document afterwards: %v", err)
	}
	if st := c.Stats(); st.Starts != 2 || st.Crashes != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestMemoryLimit_Applied: by default the child runs with its data limit
// at DefaultMaxMemory, and ordinary checks work under it; a negative
// MaxMemory leaves the limit alone.
func TestMemoryLimit_Applied(t *testing.T) {
	for _, tt := range []struct {
		name string
		max  int64
		want string
	}{
		{"default", 0, fmt.Sprint(DefaultMaxMemory)},
		{"none", -1, "unlimited"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{MaxMemory: tt.max})
			defer c.Close()
			d := newDoc(t, 200)
			if err := c.CheckImport(context.Background(), "doc", nil, d.Save()); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			pid := c.ch.cmd.Process.Pid
			c.mu.Unlock()
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
			if err != nil {
				t.Fatal(err)
			}
			var line string
			for _, l := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(l, "Max data size") {
					line = l
				}
			}
			if f := strings.Fields(line); len(f) < 4 || f[3] != tt.want {
				t.Fatalf("the child's data limit: %q, want soft limit %s", line, tt.want)
			}
		})
	}
}
