//go:build !race

package amwire_test

// raceEnabled: the race detector is on; it takes memory of its own.
const raceEnabled = false
