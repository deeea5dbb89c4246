package ocifs

import (
	"os"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// Opening a file costs far more than looking at it, so the small files
// that every manifest and blob request reads are cached in memory. The
// cache cannot go stale: tag and link files are only ever replaced by a
// rename, which gives them a new inode, and an entry is used only while
// a stat of its file shows the same inode, size and modification time.
// Manifest content is cached by digest, which never changes what it
// names, and is served only after the link or tag that leads to it has
// been found.

// maxCacheEntries bounds the entries of a fileCache.
const maxCacheEntries = 1 << 14

// maxCachedContent bounds the bytes of manifest content cached, and
// maxCachedManifest the size of one manifest that is cached.
const (
	maxCachedContent  = 32 << 20
	maxCachedManifest = 256 << 10
)

// fileCache caches a value parsed from each of many small files.
type fileCache[T any] struct {
	mu sync.Mutex
	m  map[string]fileCacheEntry[T]
}

type fileCacheEntry[T any] struct {
	fi  os.FileInfo
	val T
}

// load returns the value parsed from the file at path, from the cache
// when the file has not changed since it was parsed.
func (c *fileCache[T]) load(path string, parse func(path string) (T, error)) (T, error) {
	fi, err := os.Stat(path)
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	e, ok := c.m[path]
	c.mu.Unlock()
	if ok && os.SameFile(e.fi, fi) && e.fi.ModTime().Equal(fi.ModTime()) && e.fi.Size() == fi.Size() {
		return e.val, nil
	}
	// The file is statted before it is read: should it be replaced in
	// between, the entry holds the new value under the old file's
	// identity and is merely missed next time.
	val, err := parse(path)
	if err != nil || time.Since(fi.ModTime()) < clockSlack {
		// A file modified within a tick of the coarse clock that
		// stamps files is not cached: a file that replaced it in the
		// same tick, reusing its inode, would look the same.
		return val, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[string]fileCacheEntry[T])
	}
	if len(c.m) >= maxCacheEntries {
		for k := range c.m {
			delete(c.m, k)
			if len(c.m) < maxCacheEntries*3/4 {
				break
			}
		}
	}
	c.m[path] = fileCacheEntry[T]{fi: fi, val: val}
	c.mu.Unlock()
	return val, nil
}

// contentCache caches manifest content by sha256 digest.
type contentCache struct {
	mu   sync.Mutex
	m    map[ociregistry.Digest][]byte
	size int
}

func (c *contentCache) get(d ociregistry.Digest) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	data, ok := c.m[d]
	return data, ok
}

func (c *contentCache) put(d ociregistry.Digest, data []byte) {
	if len(data) > maxCachedManifest {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[ociregistry.Digest][]byte)
	}
	if _, ok := c.m[d]; ok {
		return
	}
	for k, v := range c.m {
		if c.size+len(data) <= maxCachedContent {
			break
		}
		delete(c.m, k)
		c.size -= len(v)
	}
	c.m[d] = data
	c.size += len(data)
}

// readString reads a small file whole.
func readString(path string) (string, error) {
	data, err := os.ReadFile(path)
	return string(data), err
}
