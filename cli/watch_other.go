//go:build !linux

package cli

import "context"

// watchStore returns nil where inotify does not exist: the node polls.
func watchStore(path string) func(ctx context.Context) <-chan struct{} { return nil }
