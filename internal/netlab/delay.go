package netlab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How a delayed link delays, as [Internet.DelayKind] says it.
const (
	DelayNetem = "tc netem"
	DelayLine  = "a TUN delay line"
)

// DelayKind says how the links of this internet that delay do so:
// [DelayNetem] where the kernel has netem, else [DelayLine]; "" while no
// link delays.
func (in *Internet) DelayKind() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.delayed
}

// link joins interface ifA in namespace nsA and ifB in nsB, delaying every
// packet by delay each way (none for 0).
func (in *Internet) link(nsA, ifA, nsB, ifB string, delay time.Duration) {
	in.t.Helper()
	if delay <= 0 {
		in.ip("-n", nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB)
		return
	}
	if in.hasNetem() {
		in.ip("-n", nsA, "link", "add", ifA, "type", "veth", "peer", "name", ifB, "netns", nsB)
		d := fmt.Sprintf("%dus", delay.Microseconds())
		for _, end := range []struct{ ns, dev string }{{nsA, ifA}, {nsB, ifB}} {
			in.exec(end.ns, "tc", "qdisc", "add", "dev", end.dev, "root", "netem", "delay", d, "limit", "100000")
		}
		in.setDelayed(DelayNetem)
		return
	}
	a, err := openTUN(nsA, ifA)
	if err != nil {
		in.t.Fatalf("netlab: %v", err)
	}
	b, err := openTUN(nsB, ifB)
	if err != nil {
		a.Close()
		in.t.Fatalf("netlab: %v", err)
	}
	done := make(chan struct{}, 4)
	for _, dir := range [][2]*os.File{{a, b}, {b, a}} {
		q := make(chan packet, 4096)
		go func() { readInto(dir[0], q, delay); done <- struct{}{} }()
		go func() { writeFrom(q, dir[1]); done <- struct{}{} }()
	}
	in.t.Cleanup(func() {
		// Closing the devices ends the readers, which close their queues
		// and so end the writers.
		a.Close()
		b.Close()
		for range 4 {
			<-done
		}
	})
	in.setDelayed(DelayLine)
}

func (in *Internet) setDelayed(kind string) {
	in.mu.Lock()
	in.delayed = kind
	in.mu.Unlock()
}

// hasNetem reports whether the kernel has tc's netem qdisc, trying it once
// on the internet namespace's loopback.
func (in *Internet) hasNetem() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.netem == 0 {
		in.netem = -1
		if exec.Command("ip", "netns", "exec", in.ns, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").Run() == nil {
			in.netem = 1
			_ = exec.Command("ip", "netns", "exec", in.ns, "tc", "qdisc", "del", "dev", "lo", "root").Run()
		}
	}
	return in.netem == 1
}

// packet is an IP packet held until due.
type packet struct {
	due  time.Time
	data []byte
}

// readInto reads packets from dev until it is closed, each due delay
// after it arrived, and closes q at the end.
func readInto(dev *os.File, q chan<- packet, delay time.Duration) {
	defer close(q)
	for {
		buf := make([]byte, 65536)
		n, err := dev.Read(buf)
		if err != nil {
			return
		}
		select {
		case q <- packet{due: time.Now().Add(delay), data: buf[:n]}:
		default:
			// A full queue drops, as a full router buffer does.
		}
	}
}

// writeFrom writes each packet of q to dev when it is due, until q is
// closed. The delay is the same for every packet, so they fall due in the
// order they came.
func writeFrom(q <-chan packet, dev *os.File) {
	for p := range q {
		if d := time.Until(p.due); d > 0 {
			time.Sleep(d)
		}
		// A packet the other end cannot take (down, gone) is lost, as
		// on a wire.
		_, _ = dev.Write(p.data)
	}
}

// openTUN makes TUN device name in namespace ns (IP packets, no extra
// header) and returns it open; the device goes away when it is closed.
func openTUN(ns, name string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	// On a goroutine of its own, locked to its thread while the thread is
	// in ns: if the thread cannot return to its namespace, the goroutine
	// ends locked and the runtime discards the thread.
	go func() {
		runtime.LockOSThread()
		f, back, err := openTUNIn(ns, name)
		if back {
			runtime.UnlockOSThread()
		}
		ch <- result{f, err}
	}()
	r := <-ch
	return r.f, r.err
}

// openTUNIn is openTUN on a locked thread; back reports whether the thread
// is in its own namespace again.
func openTUNIn(ns, name string) (f *os.File, back bool, err error) {
	self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("open TUN %s in %s: this thread's namespace: %w", name, ns, err)
	}
	defer unix.Close(self)
	target, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("open TUN %s in %s: %w", name, ns, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("open TUN %s in %s: enter the namespace: %w", name, ns, err)
	}
	f, err = makeTUN(name)
	if rerr := unix.Setns(self, unix.CLONE_NEWNET); rerr != nil {
		return f, false, errors.Join(err, fmt.Errorf("open TUN %s in %s: return to the test's namespace: %w", name, ns, rerr))
	}
	if err != nil {
		return nil, true, fmt.Errorf("open TUN %s in %s: %w", name, ns, err)
	}
	return f, true, nil
}

// makeTUN makes TUN device name in the calling thread's namespace.
func makeTUN(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	req.flags = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("TUNSETIFF: %w", errno)
	}
	// Non-blocking, so that reads wait in Go's poller and Close ends them.
	return os.NewFile(uintptr(fd), name), nil
}
