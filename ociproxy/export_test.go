package ociproxy

import (
	"time"

	"github.com/ocireg/ociregistry"
)

// SetNow makes the proxy r tell the time with now.
func SetNow(r ociregistry.Interface, now func() time.Time) {
	r.(*proxy).now = now
}

// Fills returns how many blob fetches the proxy r has under way, and
// how many hold a spool file.
func Fills(r ociregistry.Interface) (underWay, spooled int) {
	p := r.(*proxy)
	p.fillMu.Lock()
	defer p.fillMu.Unlock()
	return len(p.fills), len(p.fillSlots)
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
