// Package stagetrace records, on request, when a live edit passes each
// stage of its way from one device's store to another's, so that the
// stages can be timed across processes.
//
// # Turning it on
//
// Tracing is off unless the environment variable [EnvVar] names a file when
// the process starts. Every process with it set (a serve, its sandbox
// checker, a benchmark) then appends one line per [Mark] to that file:
//
//	PID UNIXNANO STAGE
//
// Lines of one process are written with one write call each to a file
// opened for appending, so the lines of several processes do not mix. Off,
// [Mark] costs one load of a boolean.
package stagetrace

import (
	"os"
	"strconv"
	"sync"
	"time"
)

// EnvVar names the file that trace lines are appended to.
const EnvVar = "TRUSTSYNC_TRACE"

var (
	mu   sync.Mutex
	file *os.File
	on   bool
	pid  string
)

func init() {
	path := os.Getenv(EnvVar)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	file, on, pid = f, true, strconv.Itoa(os.Getpid())
}

// On reports whether tracing is on in this process.
func On() bool { return on }

// Mark records that this process reached stage now. It does nothing when
// tracing is off.
func Mark(stage string) {
	if !on {
		return
	}
	line := pid + " " + strconv.FormatInt(time.Now().UnixNano(), 10) + " " + stage + "\n"
	mu.Lock()
	file.WriteString(line)
	mu.Unlock()
}
