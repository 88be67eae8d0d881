//go:build !unix

package local

import "os"

// lockFile opens name without locking it where there is no flock: two
// runners may then pick the same range, and only the listener check stands
// between them.
func lockFile(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
}
