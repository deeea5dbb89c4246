//go:build linux && !arm && !ppc64 && !ppc64le

package ocifs

import (
	"os"
	"syscall"
)

// startWriteback asks the kernel to start writing a range of f to disk
// now, so that the fsync that ends a push has less left to wait for.
func startWriteback(f *os.File, off, n int64) {
	const syncFileRangeWrite = 2
	sc, err := f.SyscallConn()
	if err != nil {
		return
	}
	sc.Control(func(fd uintptr) {
		syscall.Syscall6(syscall.SYS_SYNC_FILE_RANGE, fd, uintptr(off), uintptr(n), syncFileRangeWrite, 0, 0)
	})
}
