package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocicopy"
)

// TestProgressRedraws checks what an enabled progress display writes:
// each redraw returns to the start of the line, writes the line and
// clears the rest of it, and finish leaves the final counts on a line
// of their own.
func TestProgressRedraws(t *testing.T) {
	var out toolstest.Buffer
	p := &progress{w: &out, enabled: true, verb: "copying"}
	blob := func(kind ocicopy.EventKind) {
		p.event(ocicopy.Event{Kind: kind, Descriptor: ociregistry.Descriptor{Size: 1024}})
	}
	for range 3 {
		blob(ocicopy.BlobPlanned)
	}
	p.start()
	blob(ocicopy.BlobSkipped)
	// Wait for a redraw showing the skipped blob.
	const first = "\rcopying: 1/3 blobs, 1.0 KiB / 3.0 KiB, 1 already there\x1b[K"
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), first) {
		if time.Now().After(deadline) {
			t.Fatalf("no redraw after 10s; got %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	blob(ocicopy.BlobMounted)
	p.event(ocicopy.Event{Kind: ocicopy.BlobBytes, Bytes: 1000})
	p.event(ocicopy.Event{Kind: ocicopy.BlobBytes, Bytes: 24})
	blob(ocicopy.BlobCopied)
	p.finish()

	got := out.String()
	const final = "\rcopying: 3/3 blobs, 3.0 KiB / 3.0 KiB, 1 already there, 1 mounted\x1b[K\n"
	qt.Assert(t, qt.StringContains(got, first))
	qt.Check(t, qt.IsTrue(strings.HasSuffix(got, final)), qt.Commentf("%q", got))
	qt.Check(t, qt.Equals(strings.Count(got, "\n"), 1), qt.Commentf("%q", got))
	// Every redraw is "\r" LINE "\x1b[K", and nothing comes between
	// them.
	draws := strings.Split(strings.TrimSuffix(got, "\n"), "\r")
	qt.Check(t, qt.Equals(draws[0], ""))
	for _, d := range draws[1:] {
		qt.Check(t, qt.IsTrue(strings.HasPrefix(d, "copying: ") && strings.HasSuffix(d, "\x1b[K")), qt.Commentf("%q", d))
		qt.Check(t, qt.Equals(strings.Count(d, "\x1b[K"), 1), qt.Commentf("%q", d))
	}
	// Nothing is drawn after finish.
	time.Sleep(2 * progressInterval)
	qt.Check(t, qt.Equals(out.String(), got))
}

// TestProgressDisabled checks that progress writes nothing when quiet or
// when its writer is not a terminal.
func TestProgressDisabled(t *testing.T) {
	for _, quiet := range []bool{false, true} {
		var out bytes.Buffer
		p := newProgress(&out, quiet)
		qt.Check(t, qt.IsFalse(p.enabled))
		p.event(ocicopy.Event{Kind: ocicopy.BlobPlanned, Descriptor: ociregistry.Descriptor{Size: 10}})
		p.start()
		p.event(ocicopy.Event{Kind: ocicopy.BlobSkipped, Descriptor: ociregistry.Descriptor{Size: 10}})
		p.finish()
		qt.Check(t, qt.Equals(out.String(), ""))
	}
}
