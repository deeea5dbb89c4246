package ociproxy

import (
	"time"

	"github.com/ocireg/ociregistry"
)

// SetNow makes the proxy r tell the time with now.
func SetNow(r ociregistry.Interface, now func() time.Time) {
	r.(*proxy).now = now
}

// SetMaxFillAttempts makes the proxy r wait for n fetches that fail to
// fill the cache before it reads a blob from upstream uncached.
func SetMaxFillAttempts(r ociregistry.Interface, n int) {
	r.(*proxy).maxFillAttempts = n
}

// SetMaxTags makes the proxy r remember at most n tags, and returns a
// function that tells how many it remembers.
func SetMaxTags(r ociregistry.Interface, n int) func() int {
	p := r.(*proxy)
	p.maxTags = n
	return func() int {
		p.tagMu.Lock()
		defer p.tagMu.Unlock()
		return len(p.tags)
	}
}
