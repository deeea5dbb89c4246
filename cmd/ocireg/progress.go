package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ocireg/ociregistry/ocicopy"
)

// progress shows how far a copy has got. On a terminal it redraws one
// line on stderr a few times a second; elsewhere it shows nothing, so
// that logs and scripts see only the result.
type progress struct {
	w       io.Writer
	enabled bool
	// verb starts the line: "copying", or "checking" for validate.
	verb string

	totalBytes, doneBytes      atomic.Int64
	totalBlobs, doneBlobs      atomic.Int64
	skippedBlobs, mountedBlobs atomic.Int64

	stop chan struct{}
	wg   sync.WaitGroup
}

// progressInterval is how often the line is redrawn.
const progressInterval = 200 * time.Millisecond

// newProgress returns a progress display on w, enabled when w is a
// terminal and quiet is not set.
func newProgress(w io.Writer, quiet bool) *progress {
	return &progress{w: w, enabled: !quiet && isTerminal(w), verb: "copying"}
}

// isTerminal reports whether w is a character device such as a
// terminal. /dev/null is one too, which is harmless: nobody sees what is
// written there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// start starts redrawing. The totals grow as the copy plans blobs.
func (p *progress) start() {
	if !p.enabled {
		return
	}
	p.stop = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				fmt.Fprintf(p.w, "\r%s\x1b[K", p.line())
			}
		}
	}()
}

// finish stops redrawing and leaves the final line.
func (p *progress) finish() {
	if !p.enabled || p.stop == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	fmt.Fprintf(p.w, "\r%s\x1b[K\n", p.line())
}

// line returns the progress line: blobs and bytes done of the totals.
func (p *progress) line() string {
	s := fmt.Sprintf("%s: %d/%d blobs, %s / %s", p.verb,
		p.doneBlobs.Load(), p.totalBlobs.Load(), byteSize(p.doneBytes.Load()), byteSize(p.totalBytes.Load()))
	if n := p.skippedBlobs.Load(); n > 0 {
		s += fmt.Sprintf(", %d already there", n)
	}
	if n := p.mountedBlobs.Load(); n > 0 {
		s += fmt.Sprintf(", %d mounted", n)
	}
	return s
}

// event counts what ev reports.
func (p *progress) event(ev ocicopy.Event) {
	switch ev.Kind {
	case ocicopy.BlobPlanned:
		p.totalBlobs.Add(1)
		p.totalBytes.Add(ev.Descriptor.Size)
	case ocicopy.BlobBytes:
		p.doneBytes.Add(ev.Bytes)
	case ocicopy.BlobCopied:
		p.doneBlobs.Add(1)
	case ocicopy.BlobSkipped, ocicopy.BlobMounted:
		p.doneBytes.Add(ev.Descriptor.Size)
		p.doneBlobs.Add(1)
		if ev.Kind == ocicopy.BlobMounted {
			p.mountedBlobs.Add(1)
		} else {
			p.skippedBlobs.Add(1)
		}
	}
}

// byteSize formats n bytes for people: 512 B, 1.5 KiB, 3.2 MiB.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
