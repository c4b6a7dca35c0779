//go:build !linux

package benchkit

func cHeap() (inuse, free int64) { return 0, 0 }

func cTrim() {}
