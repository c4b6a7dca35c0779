package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Watch signals when a commit to the store, by this process or another,
// may have become visible: its method value fits sync.Config.Watch, so
// that a sync node notices another process's edit within a fraction of a
// millisecond of its commit instead of at its next poll. The channel is
// closed when ctx ends.
//
// It watches the directory of the SQLite file with inotify. Every commit
// writes the write-ahead log (the file's name + "-wal") several times, the
// first write well before the commit is visible: SQLite then syncs the log
// and publishes the commit in the header of its shared-memory index (+
// "-shm"), which no file event reports. So after a write of the log the
// watch reads that header, a pread of a few bytes, every shmPoll until it
// changes, and signals once then: the reader reads the store when there is
// something to read, once per commit. A commit not visible shmPollFor
// after the last write of the log (its sync is slow) gets a signal then,
// in case the header was missed, and another when it becomes visible (for
// up to shmPollMax). When the index cannot be read it signals on every
// write, as it does for writes of the database file itself.
//
// Watch returns nil when inotify cannot be used (and on systems other than
// Linux): the caller then polls.
func (d *Disk) Watch(ctx context.Context) <-chan struct{} {
	return watchFile(ctx, d.path)
}

func watchFile(ctx context.Context, path string) <-chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MODIFY|unix.IN_CLOSE_WRITE|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: reads wait in the runtime poller, Close ends them
	ch := make(chan struct{}, 1)
	names := map[string]bool{filepath.Base(path): true, filepath.Base(path) + "-wal": true}
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	go func() {
		defer close(ch)
		events := make(chan bool, 1) // a write seen; true when of the log
		go readEvents(f, names, filepath.Base(path)+"-wal", events)
		shm := newShmHeader(path + "-shm")
		defer shm.close()
		signal := func() {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		poll := time.NewTimer(time.Hour)
		poll.Stop()
		defer poll.Stop()
		// After a write of the log the header is read every shmPoll until
		// shmPollFor after the last write, then every shmSlowPoll until
		// shmPollMax: a commit whose sync takes long (a loaded machine, a
		// slow disk) is still signalled once it is visible.
		var until, slowUntil time.Time // zero when not polling
		slow := false                  // the fast window ended with no commit seen
		stop := func() {
			until, slowUntil, slow = time.Time{}, time.Time{}, false
			poll.Stop()
		}
		for {
			select {
			case wal, ok := <-events:
				if !ok {
					return
				}
				if !wal || !shm.ok() {
					signal()
					continue
				}
				if shm.changed() {
					signal()
					stop()
					continue
				}
				now := time.Now()
				if until.IsZero() || now.After(until) {
					poll.Reset(shmPoll)
				}
				until, slowUntil, slow = now.Add(shmPollFor), now.Add(shmPollMax), false
			case <-poll.C:
				now := time.Now()
				switch {
				case shm.changed():
					signal()
					stop()
				case now.Before(until):
					poll.Reset(shmPoll)
				case now.Before(slowUntil):
					if !slow {
						// No commit seen in the fast window: the reader
						// reads once now, in case the header was missed,
						// and again when it changes.
						slow = true
						signal()
					}
					poll.Reset(shmSlowPoll)
				default:
					if !slow {
						signal()
					}
					until, slowUntil, slow = time.Time{}, time.Time{}, false
				}
			}
		}
	}()
	return ch
}

// How often the watch reads the index header after a write of the log,
// and for how long after the last one: often at first, then seldom.
const (
	shmPoll     = 100 * time.Microsecond
	shmPollFor  = 20 * time.Millisecond
	shmSlowPoll = 5 * time.Millisecond
	shmPollMax  = 10 * time.Second
)

// readEvents reads inotify events from f and sends, for each read that
// names one of names, whether one of them was the log (wal). It closes
// events when f fails or is closed.
func readEvents(f *os.File, names map[string]bool, wal string, events chan bool) {
	defer close(events)
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		hit, hitWAL := false, false
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			// struct inotify_event: wd, mask, cookie, len (uint32s), then name.
			nameEnd := off + unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
			if nameEnd > n {
				break
			}
			name := buf[off+unix.SizeofInotifyEvent : nameEnd]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if names[string(name)] {
				hit = true
				hitWAL = hitWAL || string(name) == wal
			}
			off = nameEnd
		}
		if !hit {
			continue
		}
		select {
		case events <- hitWAL:
		default:
			// One is waiting. A database write waiting wins (it signals
			// at once); a log write waiting stands for this one too.
		}
	}
}

// shmHeader reads the header of SQLite's shared-memory WAL index: its
// first 48 bytes change whenever a commit is published (and when the log
// starts over).
type shmHeader struct {
	path string
	f    *os.File
	last [48]byte
	buf  [48]byte
}

func newShmHeader(path string) *shmHeader {
	h := &shmHeader{path: path}
	h.changed() // the current header is the baseline
	return h
}

// ok reports whether the index can be read, opening it if need be.
func (h *shmHeader) ok() bool {
	if h.f == nil {
		h.changed()
	}
	return h.f != nil
}

// changed reads the header and reports whether it differs from the one
// read before. A file that cannot be read is closed and opened again at
// the next call.
func (h *shmHeader) changed() bool {
	if h.f == nil {
		f, err := os.Open(h.path)
		if err != nil {
			return false
		}
		h.f = f
	}
	n, err := h.f.ReadAt(h.buf[:], 0)
	if err != nil || n < len(h.buf) {
		h.f.Close()
		h.f = nil
		return false
	}
	if h.buf == h.last {
		return false
	}
	h.last = h.buf
	return true
}

func (h *shmHeader) close() {
	if h.f != nil {
		h.f.Close()
	}
}
