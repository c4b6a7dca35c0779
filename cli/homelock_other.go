//go:build !unix

package cli

// lockHome does nothing where flock(2) is not available: running two
// networking commands of one home at once is then not prevented.
func lockHome(f *Factory, command string) (release func(), err error) {
	return func() {}, nil
}
