package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// The disk tests start copies of the test binary as separate processes that
// share a store with the test. TestMain turns such a copy into a helper
// before any test runs.
const helperEnv = "TRUSTSYNC_STORE_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	// Every store closed by a test must leave no goroutine behind.
	goleak.VerifyTestMain(m)
}

// helperConfig is what a helper process is told through its environment.
type helperConfig struct {
	Dir   string
	ID    string        // names the helper's document and items
	Count int           // appends to make; 0 means until killed or failing
	Busy  time.Duration // the store's BusyTimeout; 0 for the default
	FSize int64         // if > 0, the file size limit (RLIMIT_FSIZE) to set after opening
	Wait  bool          // read one line from stdin before writing
}

func (c helperConfig) env() []string {
	return []string{
		"HELPER_DIR=" + c.Dir,
		"HELPER_ID=" + c.ID,
		"HELPER_COUNT=" + strconv.Itoa(c.Count),
		"HELPER_BUSY=" + c.Busy.String(),
		"HELPER_FSIZE=" + strconv.FormatInt(c.FSize, 10),
		"HELPER_WAIT=" + strconv.FormatBool(c.Wait),
	}
}

func helperConfigFromEnv() (helperConfig, error) {
	c := helperConfig{Dir: os.Getenv("HELPER_DIR"), ID: os.Getenv("HELPER_ID")}
	var err1, err2, err3, err4 error
	c.Count, err1 = strconv.Atoi(os.Getenv("HELPER_COUNT"))
	c.Busy, err2 = time.ParseDuration(os.Getenv("HELPER_BUSY"))
	c.FSize, err3 = strconv.ParseInt(os.Getenv("HELPER_FSIZE"), 10, 64)
	c.Wait, err4 = strconv.ParseBool(os.Getenv("HELPER_WAIT"))
	return c, errors.Join(err1, err2, err3, err4)
}

// startHelper starts a helper process. Its stdout lines are the protocol:
//
//	ack <i> <seq>   Update number i committed chunk seq and returned nil
//	err <i> <msg>   Update number i failed; the helper exits 1
//	holding         (mode hold) the helper is inside Update, writing nothing
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startHelper(t *testing.T, mode string, c helperConfig) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(c.env(), helperEnv+"="+mode)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
}

// line is one parsed line of helper output.
type line struct {
	kind string // "ack", "err" or "holding"
	i    int
	seq  int64
	msg  string
}

// next returns the helper's next line, or false at the end of its output.
func (h *helper) next(t *testing.T) (line, bool) {
	t.Helper()
	if !h.out.Scan() {
		return line{}, false
	}
	text := h.out.Text()
	kind, rest, _ := strings.Cut(text, " ")
	l := line{kind: kind}
	switch kind {
	case "ack":
		if _, err := fmt.Sscanf(rest, "%d %d", &l.i, &l.seq); err != nil {
			t.Fatalf("helper said %q: %v", text, err)
		}
	case "err":
		is, msg, _ := strings.Cut(rest, " ")
		l.i, _ = strconv.Atoi(is)
		l.msg = msg
	case "holding":
	default:
		t.Fatalf("helper said %q", text)
	}
	return l, true
}

// chunkData is the deterministic content of append number i of helper id:
// sizes vary from a few bytes to a few pages.
func chunkData(id string, i int) []byte {
	head := fmt.Sprintf("%s/%d:", id, i)
	size := len(head) + (i*7919)%9000
	b := make([]byte, size)
	copy(b, head)
	for j := len(head); j < size; j++ {
		b[j] = byte(j*31 + i)
	}
	return b
}

// itemID names the view row written with append number i of helper id.
func itemID(id string, i int) string { return fmt.Sprintf("%s-%06d", id, i) }

// appendOne is one Update of a helper, shaped like a crdt write: a chunk, a
// view row and a history entry, plus a counter that only exclusive writers
// keep exact.
func appendOne(ctx context.Context, s trustsync.Store, id string, i int) (int64, error) {
	var seq int64
	err := s.Update(ctx, func(tx trustsync.Tx) error {
		n := 0
		if v, err := tx.Get("count"); err == nil {
			n, _ = strconv.Atoi(string(v))
		} else if !errors.Is(err, trustsync.ErrNotFound) {
			return err
		}
		if err := tx.Put("count", []byte(strconv.Itoa(n+1))); err != nil {
			return err
		}
		var err error
		seq, err = tx.AppendChunk("doc-"+id, chunkData(id, i))
		if err != nil {
			return err
		}
		if err := tx.PutItem(trustsync.Item{
			Kind: "ack", ID: itemID(id, i), Doc: "doc-" + id, Data: []byte(strconv.FormatInt(seq, 10)),
		}); err != nil {
			return err
		}
		return tx.AddHistory(trustsync.HistoryEntry{
			Hash: itemID(id, i), Doc: "doc-" + id, Actor: id, At: time.Now(), Message: "append",
		})
	})
	return seq, err
}

func runHelper(mode string) int {
	c, err := helperConfigFromEnv()
	if err != nil {
		fmt.Println("err -1 bad helper environment:", err)
		return 1
	}
	s, err := store.Open(c.Dir, store.Options{BusyTimeout: c.Busy})
	if err != nil {
		fmt.Println("err -1", err)
		return 1
	}
	defer s.Close()
	stdin := bufio.NewReader(os.Stdin)
	if c.Wait {
		stdin.ReadString('\n')
	}
	if c.FSize > 0 {
		// Writes beyond the limit fail with EFBIG; Go ignores SIGXFSZ.
		lim := syscall.Rlimit{Cur: uint64(c.FSize), Max: ^uint64(0)}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			fmt.Println("err -1 setrlimit:", err)
			return 1
		}
	}
	ctx := context.Background()
	switch mode {
	case "append":
		for i := 0; c.Count == 0 || i < c.Count; i++ {
			seq, err := appendOne(ctx, s, c.ID, i)
			if err != nil {
				fmt.Printf("err %d %v\n", i, err)
				return 1
			}
			// os.Stdout is unbuffered: once Printf returns, the
			// acknowledgement is in the pipe.
			fmt.Printf("ack %d %d\n", i, seq)
		}
		return 0
	case "hold":
		// Take the write lock and write nothing until told to go on: only
		// BEGIN IMMEDIATE makes other writers wait now.
		var seq int64
		err := s.Update(ctx, func(tx trustsync.Tx) error {
			fmt.Println("holding")
			stdin.ReadString('\n')
			var err error
			seq, err = tx.AppendChunk("doc-"+c.ID, chunkData(c.ID, 0))
			return err
		})
		if err != nil {
			fmt.Printf("err 0 %v\n", err)
			return 1
		}
		fmt.Printf("ack 0 %d\n", seq)
		return 0
	}
	fmt.Println("err -1 unknown helper mode", mode)
	return 1
}
