package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// slowSource is a registry whose GetBlob waits, for a while, until
// another GetBlob is under way too, and records how many ran at once.
type slowSource struct {
	ociregistry.Interface
	wait time.Duration

	mu           sync.Mutex
	active, most int
}

func (s *slowSource) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	s.mu.Lock()
	s.active++
	s.most = max(s.most, s.active)
	deadline := time.Now().Add(s.wait)
	for s.active < 2 && time.Now().Before(deadline) {
		s.mu.Unlock()
		time.Sleep(time.Millisecond)
		s.mu.Lock()
	}
	s.active--
	s.mu.Unlock()
	return s.Interface.GetBlob(ctx, repo, dig)
}

func TestCopyJobs(t *testing.T) {
	for _, jobs := range []int{1, 2} {
		t.Run(fmt.Sprint("jobs", jobs), func(t *testing.T) {
			ctx := context.Background()
			mem := ocimem.New()
			img := ocitest.PushRandomImage(t, mem, "src", "v1") // three blobs
			src := &slowSource{Interface: mem, wait: 300 * time.Millisecond}
			dst := ocimem.New()
			c := &copier{
				src:      &target{name: "src", reg: src, repo: "src", tag: "v1"},
				dst:      &target{name: "dst", reg: dst, repo: "dst"},
				jobs:     jobs,
				progress: newProgress(&bytes.Buffer{}, true),
				warn:     &bytes.Buffer{},
			}
			desc, err := c.copy(ctx)
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
			qt.Check(t, qt.Equals(src.most, jobs))
			got, err := dst.ResolveTag(ctx, "dst", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(got.Digest, img.Manifest.Digest))
			qt.Check(t, qt.Equals(c.progress.doneBlobs.Load(), int64(3)))
		})
	}
}
