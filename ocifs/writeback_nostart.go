//go:build !linux || arm || ppc64 || ppc64le

package ocifs

import "os"

// startWriteback does nothing where the kernel cannot be asked to start
// writing back part of a file, or (32-bit arm, ppc64) takes the request
// in another argument order under another name: it is only a hint.
func startWriteback(f *os.File, off, n int64) {}
