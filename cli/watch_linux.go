package cli

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// watchStore returns a function for [tsync.Config.Watch] that watches the
// directory of the SQLite file at path with inotify and signals when the
// file or its write-ahead log (path + "-wal") is written, created or
// renamed into place: every commit, by this process or another, writes the
// log. A node then notices another process's edit within a millisecond or
// so instead of at its next poll. It returns nil when inotify cannot be
// used; the node then only polls.
func watchStore(path string) func(ctx context.Context) <-chan struct{} {
	return func(ctx context.Context) <-chan struct{} {
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
			buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
			for {
				n, err := f.Read(buf)
				if err != nil {
					return
				}
				hit := false
				for off := 0; off+unix.SizeofInotifyEvent <= n; {
					// struct inotify_event: wd, mask, cookie, len (uint32s), then name.
					nameEnd := off + unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
					if nameEnd > n {
						break
					}
					name := buf[off+unix.SizeofInotifyEvent : nameEnd]
					if i := indexNUL(name); i >= 0 {
						name = name[:i]
					}
					if names[string(name)] {
						hit = true
					}
					off = nameEnd
				}
				if hit {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
		}()
		return ch
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
