package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
)

// Defaults of the limits that serve puts on what a client can make it
// hold (see README.md, "Limits").
const (
	// defaultHeaderBytes bounds a request's header block. Registry
	// requests carry a few small headers; the biggest is a bearer
	// token, a few KiB.
	defaultHeaderBytes = 64 << 10
	// defaultHeaderTimeout bounds the time a client takes to send its
	// request's header block: a connection that dribbles its headers
	// holds a goroutine and buffers.
	defaultHeaderTimeout = 10 * time.Second
	// defaultUploadTimeout is how long a chunked upload may go without
	// a write before it is abandoned and what it holds freed.
	defaultUploadTimeout = time.Hour
	// defaultMaxUploads bounds the uploads in progress at once. A
	// client pushes a few blobs at a time, so this serves hundreds of
	// clients pushing at once, and bounds the upload directories (or
	// buffers) that clients who leave their uploads make the server
	// keep until defaultUploadTimeout.
	defaultMaxUploads = 1000
	// defaultMemUploadBytes bounds the bytes that the uploads in
	// progress of a registry in memory hold together. A blob pushed in
	// one request whose declared size does not fit in what is free is
	// refused at once, so this leaves room for a 1 GiB blob (as
	// bench.sh -big pushes) beside others.
	defaultMemUploadBytes = 2 << 30
)

// serverLimits are the limits that the handler applies.
type serverLimits struct {
	readTimeout, writeTimeout time.Duration
	uploadTimeout             time.Duration
	maxUploads                int
}

// serverLimits returns the limits of cfg that the handler applies.
func (cfg *serveConfig) serverLimits() serverLimits {
	maxUploads := cfg.maxUploads
	if maxUploads == 0 {
		// For ociserver, zero means its default; here it means
		// none, as for the other limits. Not -1: the server still
		// tracks the sessions, so that the sweep cancels idle ones.
		maxUploads = math.MaxInt
	}
	return serverLimits{
		readTimeout:   cfg.readTimeout,
		writeTimeout:  cfg.writeTimeout,
		uploadTimeout: cfg.uploadTimeout,
		maxUploads:    maxUploads,
	}
}

// uploadSweepInterval returns how often serve cancels the uploads idle
// for longer than timeout: every minute, or more often for a short
// timeout, so that an upload is freed at most half its timeout late.
func uploadSweepInterval(timeout time.Duration) time.Duration {
	if timeout <= 0 {
		// ociserver's default applies, an hour.
		return time.Minute
	}
	return max(min(time.Minute, timeout/2), 100*time.Millisecond)
}

// sizeLimit is a number of bytes given as a flag or in the config file:
// an integer, optionally followed by KiB, MiB or GiB (or KB, MB, GB,
// which mean the same here).
type sizeLimit int64

var byteUnits = []struct {
	suffix string
	shift  uint
}{{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"KB", 10}, {"MB", 20}, {"GB", 30}, {"B", 0}}

// parseSizeLimit parses s as a sizeLimit. It returns an error for
// anything else, for a negative size and for sizes beyond 1<<62.
func parseSizeLimit(s string) (sizeLimit, error) {
	num, shift := strings.TrimSpace(s), uint(0)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, shift = strings.TrimSpace(n), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("invalid size %q (want bytes, or a number with KiB, MiB or GiB)", s)
	}
	return sizeLimit(n << shift), nil
}

// String formats b in the biggest unit that divides it.
func (b sizeLimit) String() string {
	switch {
	case b != 0 && b%(1<<30) == 0:
		return strconv.FormatInt(int64(b>>30), 10) + "GiB"
	case b != 0 && b%(1<<20) == 0:
		return strconv.FormatInt(int64(b>>20), 10) + "MiB"
	case b != 0 && b%(1<<10) == 0:
		return strconv.FormatInt(int64(b>>10), 10) + "KiB"
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set implements flag.Value.
func (b *sizeLimit) Set(s string) error {
	n, err := parseSizeLimit(s)
	if err != nil {
		return err
	}
	*b = n
	return nil
}

// memConfig returns the ocimem settings of a registry that serve keeps
// in memory.
func (cfg *serveConfig) memConfig(lax bool) *ocimem.Config {
	return &ocimem.Config{LaxChildReferences: lax, UploadIdleTimeout: cfg.uploadTimeout, MaxUploadBytes: int64(cfg.memUploadBytes)}
}

// fsOptions returns the ocifs settings of a registry that serve keeps
// in a directory.
func (cfg *serveConfig) fsOptions(lax bool) *ocifs.Options {
	return &ocifs.Options{LaxChildReferences: lax, UploadMaxAge: cfg.uploadTimeout}
}
