package crdt

// SetCompactShare sets the compaction share (see compactShare) for a
// benchmark and returns a function restoring it. Not for concurrent use.
func SetCompactShare(share int) (restore func()) {
	old := compactShare
	compactShare = share
	return func() { compactShare = old }
}
