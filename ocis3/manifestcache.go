package ocis3

import (
	"container/list"
	"sync"

	"github.com/ocireg/ociregistry"
)

// manifestCacheBytes bounds the manifest content a Registry keeps in
// memory.
const manifestCacheBytes = 32 << 20

// manifestCache holds manifests' content by digest, least recently used
// first out. Content is immutable for its digest, so an entry can never
// be stale: whether a repository or tag still holds the manifest is
// asked of S3 every time; only the bytes come from here.
type manifestCache struct {
	mu      sync.Mutex
	max     int
	size    int
	order   *list.List // of *cachedManifest, most recently used first
	entries map[ociregistry.Digest]*list.Element
}

type cachedManifest struct {
	d    ociregistry.Digest
	data []byte
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, order: list.New(), entries: make(map[ociregistry.Digest]*list.Element)}
}

// get returns the content of d, if held. The caller must not change it.
func (c *manifestCache) get(d ociregistry.Digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[d]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cachedManifest).data, true
}

// add keeps data as the content of d, which the caller has checked it
// is, and which no one may change from then on.
func (c *manifestCache) add(d ociregistry.Digest, data []byte) {
	if len(data) > c.max/16 {
		// One big manifest is not worth pushing many small ones out.
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[d]; ok {
		return
	}
	c.entries[d] = c.order.PushFront(&cachedManifest{d: d, data: data})
	c.size += len(data)
	for c.size > c.max {
		e := c.order.Back()
		m := e.Value.(*cachedManifest)
		c.order.Remove(e)
		delete(c.entries, m.d)
		c.size -= len(m.data)
	}
}
