//go:build !race

package sandbox

// raceEnabled: the race detector is on; it takes memory of its own.
const raceEnabled = false
