//go:build !linux

package store

import "context"

// Watch returns nil where inotify does not exist: the caller polls.
func (d *Disk) Watch(ctx context.Context) <-chan struct{} { return nil }
