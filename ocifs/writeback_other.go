//go:build !linux

package ocifs

import (
	"errors"
	"os"
)

// errNoDirect says that direct I/O is not used.
var errNoDirect = errors.New("no direct I/O")

// writeDirect writes nothing: direct I/O is used on Linux only.
func writeDirect(f *os.File, p []byte, off int64) (n int, done bool, err error) {
	return 0, false, errNoDirect
}
