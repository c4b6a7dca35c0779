package crdt

import (
	"sync"
	"time"
)

// clock hands out the times a space stores with items and changes. Times
// are stored in milliseconds; handing out strictly increasing ones keeps
// this device's items and changes in the order they were made even when
// several fall within one millisecond.
type clock struct {
	src func() time.Time // Options.Now, or time.Now

	mu   sync.Mutex
	last time.Time // the last time handed out by now
}

// now returns src's time in milliseconds, later than any it returned before.
func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := ms(c.src())
	if !t.After(c.last) {
		t = c.last.Add(time.Millisecond)
	}
	c.last = t
	return t
}
