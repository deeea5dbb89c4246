package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// progress shows how far a copy has got. On a terminal it redraws one
// line on stderr a few times a second; elsewhere it shows nothing, so
// that logs and scripts see only the result.
type progress struct {
	w       io.Writer
	enabled bool

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
	return &progress{w: w, enabled: !quiet && isTerminal(w)}
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

// start sets the totals and starts redrawing.
func (p *progress) start(blobs int, bytes int64) {
	p.totalBlobs.Store(int64(blobs))
	p.totalBytes.Store(bytes)
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
	s := fmt.Sprintf("copying: %d/%d blobs, %s / %s",
		p.doneBlobs.Load(), p.totalBlobs.Load(), byteSize(p.doneBytes.Load()), byteSize(p.totalBytes.Load()))
	if n := p.skippedBlobs.Load(); n > 0 {
		s += fmt.Sprintf(", %d already there", n)
	}
	if n := p.mountedBlobs.Load(); n > 0 {
		s += fmt.Sprintf(", %d mounted", n)
	}
	return s
}

// blobCopied records a blob fully copied: its bytes were counted as they
// were read.
func (p *progress) blobCopied() { p.doneBlobs.Add(1) }

// blobSkipped records a blob that did not need copying, as already at
// the destination (mounted false) or mounted from another repository.
func (p *progress) blobSkipped(size int64, mounted bool) {
	p.doneBytes.Add(size)
	p.doneBlobs.Add(1)
	if mounted {
		p.mountedBlobs.Add(1)
	} else {
		p.skippedBlobs.Add(1)
	}
}

// reader returns r, counting the bytes read from it as done.
func (p *progress) reader(r io.Reader) io.Reader {
	return &progressReader{r: r, n: &p.doneBytes}
}

type progressReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *progressReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
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
