package bench

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// The machine's own limits, measured in the same run as the servers so
// that their figures can be read against what the hardware allows: a
// push cannot beat hashing its content once, and a durable push to disk
// cannot beat writing it and waiting for the disk.

// BenchmarkMachineSHA256 hashes 64 MiB with SHA-256 on one core.
func BenchmarkMachineSHA256(b *testing.B) {
	data := randomBytes(6, pushSize)
	b.SetBytes(pushSize)
	start := processCPU(b)
	b.ResetTimer()
	for range b.N {
		h := sha256.New()
		h.Write(data)
		h.Sum(nil)
	}
	b.StopTimer()
	reportThroughput(b, pushSize)
	b.ReportMetric(float64(processCPU(b)-start)/float64(time.Millisecond)/(float64(b.N)*pushSize/mib), "cpu-ms/MiB")
}

// processCPU returns the processor time this process has used, which
// during the machine benchmarks is that of the benchmark alone.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fdatasyncSize is the size of the file BenchmarkMachineFdatasync writes.
const fdatasyncSize = 256 * mib

// BenchmarkMachineFdatasync writes a new 256 MiB file in 1 MiB writes
// and fdatasyncs it, in the directory the servers store their data in.
func BenchmarkMachineFdatasync(b *testing.B) {
	startServers(b)
	block := randomBytes(7, mib)
	b.SetBytes(fdatasyncSize)
	syscall.Sync()
	b.ResetTimer()
	for i := range b.N {
		path := filepath.Join(servers.dir, "fdatasync.data")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < fdatasyncSize; off += mib {
			block[0] = byte(i)
			if _, err := f.Write(block); err != nil {
				b.Fatal(err)
			}
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(path)
		b.StartTimer()
	}
	reportThroughput(b, fdatasyncSize)
}
