package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/store"
)

// A permission problem is said as one, never as a damaged or missing home.
func TestErrorLine_Permission(t *testing.T) {
	const home = "/data/home"
	read := fmt.Errorf("read encryption header: %w", &fs.PathError{Op: "open", Path: home + "/encryption.json", Err: fs.ErrPermission})
	line, code := ErrorLine(read, home)
	if want := "permission denied reading /data/home: run trustsync as the user who owns it"; line != want || code != ExitFailure {
		t.Errorf("read: line = %q (%d), want %q", line, code, want)
	}
	line, _ = ErrorLine(permissionError(read, home), home)
	if !strings.HasPrefix(line, "permission denied reading /data/home") {
		t.Errorf("permissionError: line = %q", line)
	}
	write := fmt.Errorf("open store: %w", fmt.Errorf("/data/home/trustsync.db: %w (attempt to write a readonly database)", store.ErrNotWritable))
	if !errors.Is(write, fs.ErrPermission) {
		t.Fatal("store.ErrNotWritable is not a permission error")
	}
	line, _ = ErrorLine(write, home)
	if !strings.HasPrefix(line, "permission denied writing the data in /data/home") || strings.Contains(line, "backup") {
		t.Errorf("read-only store: line = %q", line)
	}
}

// The journal never syncs: a damaged journal is not to be got back from
// the partner.
func TestJournalErr_Damaged(t *testing.T) {
	err := fmt.Errorf("open journal: %w", &trustsync.DamagedError{
		What: "store file /h/journal/trustsync.db", Why: "not a SQLite database",
		Hint: "move it aside, then sync with your partner to get your shared data back"})
	line, _ := ErrorLine(journalErr(err), "/h")
	contains(t, "line", line, "your journal /h/journal/trustsync.db is damaged (not a SQLite database)", "never synced", "restore it from a backup", "left as it is")
	if strings.Contains(line, "sync with your partner") {
		t.Errorf("line %q still says to sync the journal", line)
	}
	if !errors.Is(journalErr(err), trustsync.ErrDamaged) {
		t.Error("journalErr lost ErrDamaged")
	}
	other := errors.New("x")
	if journalErr(other) != other || journalErr(nil) != nil {
		t.Error("journalErr changed an unrelated error")
	}
}

func TestDamagedJournalFile(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	sam.create("journal", "add", "a private thought")
	writeFile(t, filepath.Join(sam.home, "journal", store.FileName), strings.Repeat("not a database ", 40), 0o600)
	for _, f := range []string{"-wal", "-shm"} {
		os.Remove(filepath.Join(sam.home, "journal", store.FileName+f))
	}
	line := sam.fail(ExitFailure, "journal", "list")
	contains(t, "journal list", line, "your journal", "is damaged", "restore it from a backup")
	if strings.Contains(line, "sync with your partner") {
		t.Errorf("journal list: %q advises to sync the journal", line)
	}
}

// An emptied database in a home that was set up is damaged, not a home
// to init again.
func TestEmptyDatabase(t *testing.T) {
	sam := initDevice(t, "Sam", "sam-laptop")
	sam.create("journal", "add", "a private thought")
	db := filepath.Join(sam.home, store.FileName)
	writeFile(t, db, "", 0o600)
	for _, f := range []string{"-wal", "-shm"} {
		os.Remove(db + f)
	}
	line := sam.fail(ExitFailure, "boundary", "list")
	contains(t, "boundary list", line, "the database "+db+" is damaged (it is empty, although this home was set up: it has a journal)", "restore it from a backup")
	if strings.Contains(line, "run 'trustsync init") {
		t.Errorf("boundary list: %q advises init", line)
	}

	// A home that was never set up still says to run init.
	fresh := newDevice(t)
	must(t, os.MkdirAll(fresh.home, 0o700))
	writeFile(t, filepath.Join(fresh.home, store.FileName), "", 0o600)
	contains(t, "fresh home", fresh.fail(ExitFailure, "boundary", "list"), "run 'trustsync init --name NAME' first")
}
