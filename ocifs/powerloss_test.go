package ocifs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The power-loss test runs ocifs on powerFS, an fsys that does every
// operation on the real directory and also keeps a model of what a disk
// would still hold after a power cut: a file's data as of its last
// fsync, and a directory's entries as of its last fsync (POSIX promises
// no more). Before every operation the test "cuts the power": it writes
// out what the model says survives into a fresh directory and checks
// that directory as a restarted registry would find it.

// plNode is a file or directory of the model.
type plNode struct {
	dir bool
	// data is a file's content, synced its content as of its last
	// fsync.
	data, synced []byte
	// entries are a directory's entries, syncedEntries its entries as
	// of its last fsync.
	entries, syncedEntries map[string]*plNode
}

func newDirNode() *plNode {
	return &plNode{dir: true, entries: map[string]*plNode{}, syncedEntries: map[string]*plNode{}}
}

// powerFS is an fsys that models what survives a power cut.
type powerFS struct {
	root string
	// cut, when set, is called before every operation.
	cut func()

	mu  sync.Mutex
	top *plNode
	// syncs counts the fsyncs, which are the only operations that
	// change what survives.
	syncs int
	// errs are the operations the model could not follow.
	errs []error
}

func newPowerFS(root string) *powerFS {
	return &powerFS{root: root, top: newDirNode()}
}

func (p *powerFS) before() {
	if p.cut != nil {
		p.cut()
	}
}

// parent returns the model's node of the directory of path, and the
// name of path in it. It must be called with p.mu held.
func (p *powerFS) parent(path string) (*plNode, string) {
	rel, err := filepath.Rel(p.root, path)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		p.errs = append(p.errs, fmt.Errorf("path %s outside the registry", path))
		return nil, ""
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	n := p.top
	for _, c := range parts[:len(parts)-1] {
		n = n.entries[c]
		if n == nil || !n.dir {
			p.errs = append(p.errs, fmt.Errorf("model has no directory for %s", path))
			return nil, ""
		}
	}
	return n, parts[len(parts)-1]
}

// node returns the model's node of path, or nil.
func (p *powerFS) node(path string) *plNode {
	if filepath.Clean(path) == filepath.Clean(p.root) {
		return p.top
	}
	dir, name := p.parent(path)
	if dir == nil {
		return nil
	}
	return dir.entries[name]
}

func (p *powerFS) createTemp(dir, pattern string) (file, error) {
	p.before()
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := &plNode{}
	if d, name := p.parent(f.Name()); d != nil {
		d.entries[name] = n
	}
	return &plFile{File: f, p: p, n: n}, nil
}

func (p *powerFS) openFile(name string, flag int, perm os.FileMode) (file, error) {
	p.before()
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.node(name)
	if n == nil {
		n = &plNode{}
		if d, base := p.parent(name); d != nil {
			d.entries[base] = n
		}
	}
	if flag&os.O_TRUNC != 0 {
		n.data = nil
	}
	return &plFile{File: f, p: p, n: n}, nil
}

func (p *powerFS) mkdir(name string) error {
	p.before()
	if err := os.Mkdir(name, 0o777); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, base := p.parent(name); d != nil {
		d.entries[base] = newDirNode()
	}
	return nil
}

func (p *powerFS) rename(oldpath, newpath string) error {
	p.before()
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	od, oname := p.parent(oldpath)
	nd, nname := p.parent(newpath)
	if od == nil || nd == nil {
		return nil
	}
	n := od.entries[oname]
	if n == nil {
		p.errs = append(p.errs, fmt.Errorf("model has no %s", oldpath))
		return nil
	}
	delete(od.entries, oname)
	nd.entries[nname] = n
	return nil
}

func (p *powerFS) remove(name string) error {
	p.before()
	if err := os.Remove(name); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, base := p.parent(name); d != nil {
		delete(d.entries, base)
	}
	return nil
}

func (p *powerFS) removeAll(name string) error {
	p.before()
	if err := os.RemoveAll(name); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, base := p.parent(name); d != nil {
		delete(d.entries, base)
	}
	return nil
}

func (p *powerFS) syncDir(dir string) error {
	p.before()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.node(dir)
	if n == nil || !n.dir {
		p.errs = append(p.errs, fmt.Errorf("model has no directory %s to sync", dir))
		return nil
	}
	// The real directory need not be synced: only the model's
	// durability is tested, and skipping it keeps the test quick.
	n.syncedEntries = maps.Clone(n.entries)
	p.syncs++
	return nil
}

func (p *powerFS) chtimes(name string, t time.Time) error {
	p.before()
	return os.Chtimes(name, t, t)
}

// plFile is a file of a powerFS.
type plFile struct {
	*os.File
	p *powerFS
	n *plNode
}

func (f *plFile) Write(b []byte) (int, error) {
	n, err := f.File.Write(b)
	f.p.mu.Lock()
	// Files are only ever appended to.
	f.n.data = append(f.n.data, b[:n]...)
	f.p.mu.Unlock()
	return n, err
}

func (f *plFile) Sync() error {
	f.p.before()
	f.p.mu.Lock()
	defer f.p.mu.Unlock()
	f.n.synced = bytes.Clone(f.n.data)
	f.p.syncs++
	return nil
}

// survivors writes what survives a power cut into dir.
func (p *powerFS) survivors(dir string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var write func(n *plNode, path string) error
	write = func(n *plNode, path string) error {
		for name, c := range n.syncedEntries {
			cp := filepath.Join(path, name)
			if c.dir {
				if err := os.Mkdir(cp, 0o777); err != nil {
					return err
				}
				if err := write(c, cp); err != nil {
					return err
				}
				continue
			}
			if err := os.WriteFile(cp, c.synced, 0o666); err != nil {
				return err
			}
		}
		return nil
	}
	return write(p.top, dir)
}

// plExpect is what must hold after a power cut: for each tag
// ("repo:tag"), the manifest it pointed to after the last operation that
// returned, or "" for none; and what the operation under way may have
// changed it to.
type plExpect struct {
	committed map[string]ociregistry.Digest
	pending   map[string]ociregistry.Digest
	// gone are the blobs that a garbage collection that returned
	// reported deleted: their space must stay free.
	gone []ociregistry.Digest
	// ops counts the operations that returned.
	ops int
}

// TestPowerLoss runs pushes, tag moves, deletes and a garbage collection
// on powerFS and cuts the power before every file operation: after each
// cut Check passes, every tag resolves to a manifest whose content and
// blobs verify, and every tag is as the last operation that returned
// left it, or as the operation under way would leave it.
func TestPowerLoss(t *testing.T) {
	ctx := context.Background()
	base := fastTempDir(t)
	dir := filepath.Join(base, "registry")
	qt.Assert(t, qt.IsNil(os.Mkdir(dir, 0o777)))
	pfs := newPowerFS(dir)
	exp := &plExpect{committed: map[string]ociregistry.Digest{}, pending: map[string]ociregistry.Digest{}}
	type state struct{ syncs, ops int }
	last := state{-1, -1}
	cuts := 0
	failed := false
	pfs.cut = func() {
		if failed {
			return
		}
		pfs.mu.Lock()
		s := state{pfs.syncs, exp.ops}
		pfs.mu.Unlock()
		if s == last {
			// Nothing that survives or is expected has changed.
			return
		}
		last = s
		cuts++
		if err := checkAfterCut(ctx, pfs, filepath.Join(base, fmt.Sprint("cut", cuts)), exp); err != nil {
			failed = true
			t.Errorf("after power cut %d (fsyncs %d, operations done %d): %v", cuts, s.syncs, s.ops, err)
		}
	}
	r, err := newRegistry(dir, nil, pfs)
	qt.Assert(t, qt.IsNil(err))

	// step runs one operation, whose effect on tags is given by tags.
	step := func(what string, tags map[string]ociregistry.Digest, op func() error) {
		t.Helper()
		if failed {
			t.FailNow()
		}
		exp.pending = tags
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		for k, v := range tags {
			exp.committed[k] = v
		}
		exp.pending = map[string]ociregistry.Digest{}
		exp.ops++
	}
	pushBlob := func(repo string, data []byte, alg digest.Algorithm) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: alg.FromBytes(data), Size: int64(len(data))}
		step("push blob", nil, func() error {
			_, err := r.PushBlob(ctx, repo, desc, bytes.NewReader(data))
			return err
		})
		return desc
	}
	pushChunked := func(repo string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: int64(len(data))}
		step("push chunked blob", nil, func() error {
			w, err := r.PushBlobChunked(ctx, repo, 0)
			if err != nil {
				return err
			}
			w.Write(data[:len(data)/2])
			w.Close()
			w, err = r.PushBlobChunkedResume(ctx, repo, w.ID(), -1, 0)
			if err != nil {
				return err
			}
			w.Write(data[len(data)/2:])
			_, err = w.Commit(desc.Digest)
			return err
		})
		return desc
	}
	// pushImage pushes an image with a config of the given algorithm
	// and two layers and returns its manifest's content and digest.
	pushImage := func(repo, tag, seed string, alg digest.Algorithm) ([]byte, ociregistry.Digest) {
		config := pushBlob(repo, []byte(`{"os":"linux","seed":"`+seed+`"}`), alg)
		config.MediaType = ocispec.MediaTypeImageConfig
		l1 := pushBlob(repo, bytes.Repeat([]byte(seed), 1000), digest.SHA256)
		l2 := pushChunked(repo, bytes.Repeat([]byte(seed+"!"), 3000))
		m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: config, Layers: []ociregistry.Descriptor{l1, l2}}
		m.SchemaVersion = 2
		data, _ := json.Marshal(m)
		d := alg.FromBytes(data)
		pushManifest(t, step, r, repo, tag, data, d)
		return data, d
	}

	a1, a1d := pushImage("a", "v1", "one", digest.SHA256)
	a2, a2d := pushImage("a", "v2", "two", digest.SHA256)
	// Tag moves.
	pushManifest(t, step, r, "a", "v1", a2, a2d)
	pushManifest(t, step, r, "a", "v1", a1, a1d)
	pushManifest(t, step, r, "a", "v1", a2, a2d)
	_, b1d := pushImage("b/c", "latest", "three", digest.SHA512)
	pushBlob("b/c", []byte("nothing refers to me"), digest.SHA256)
	step("delete tag", map[string]ociregistry.Digest{"a:v2": ""}, func() error {
		return r.DeleteTag(ctx, "a", "v2")
	})
	step("delete manifest", nil, func() error {
		return r.DeleteManifest(ctx, "a", a1d)
	})
	_, a3d := pushImage("a", "v3", "four", digest.SHA256)
	step("delete tagged manifest", map[string]ociregistry.Digest{"a:v3": ""}, func() error {
		return r.DeleteManifest(ctx, "a", a3d)
	})
	// A referrer of a tagged manifest.
	cfg := pushBlob("a", []byte(`{}`), digest.SHA256)
	cfg.MediaType = "application/vnd.example.sig"
	subject := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: a2d, Size: int64(len(a2))}
	ref := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ociregistry.Descriptor{}, Subject: &subject}
	ref.SchemaVersion = 2
	refData, _ := json.Marshal(ref)
	pushManifest(t, step, r, "a", "", refData, digest.FromBytes(refData))

	// Everything is old enough for the garbage collector.
	old := time.Now().Add(-3 * time.Hour)
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Chtimes(path, old, old)
		}
		return nil
	})
	var res GCResult
	step("gc", nil, func() error {
		var err error
		res, err = r.GC(ctx, GCOptions{DeleteUntagged: true})
		return err
	})
	qt.Assert(t, qt.IsTrue(len(res.Blobs) >= 5), qt.Commentf("%+v", res))
	qt.Assert(t, qt.IsTrue(res.BlobLinks > 0), qt.Commentf("%+v", res))
	exp.gone = res.Blobs

	// After the collection: a new image under a tag that moves, a
	// tag of the sha512 image, and a blob deleted.
	a4, a4d := pushImage("a", "v4", "five", digest.SHA256)
	pushManifest(t, step, r, "a", "v1", a4, a4d)
	doomed := pushBlob("b/c", []byte("about to go"), digest.SHA256)
	step("delete blob", nil, func() error {
		return r.DeleteBlob(ctx, "b/c", doomed.Digest)
	})
	step("delete sha512 manifest", map[string]ociregistry.Digest{"b/c:latest": ""}, func() error {
		return r.DeleteManifest(ctx, "b/c", b1d)
	})
	// The last state, as a cut after the last operation sees it.
	pfs.syncs++
	pfs.cut()
	pfs.mu.Lock()
	qt.Assert(t, qt.IsNil(errors.Join(pfs.errs...)))
	pfs.mu.Unlock()
	t.Logf("%d power cuts checked", cuts)
	qt.Assert(t, qt.IsTrue(cuts > 100))
}

// pushManifest pushes a manifest whose digest is d, tagged when tag is
// not empty, as a step.
func pushManifest(t *testing.T, step func(string, map[string]ociregistry.Digest, func() error), r *Registry, repo, tag string, data []byte, d ociregistry.Digest) {
	t.Helper()
	var tags map[string]ociregistry.Digest
	if tag != "" {
		tags = map[string]ociregistry.Digest{repo + ":" + tag: d}
	}
	step("push manifest", tags, func() error {
		desc, err := r.PushManifest(context.Background(), repo, tag, data, ocispec.MediaTypeImageManifest)
		if err == nil && desc.Digest != d {
			err = fmt.Errorf("pushed as %s, not %s", desc.Digest, d)
		}
		return err
	})
}

// checkAfterCut writes what survives into dir and checks it as a
// registry restarted after the power cut would find it.
func checkAfterCut(ctx context.Context, pfs *powerFS, dir string, exp *plExpect) error {
	if err := os.Mkdir(dir, 0o777); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := pfs.survivors(dir); err != nil {
		return err
	}
	// A restarted server opens the directory first, which makes the
	// layout's directories should the cut have come before they were.
	r, err := newRegistry(dir, nil, noSyncFS{})
	if err != nil {
		return err
	}
	if err := Check(ctx, dir); err != nil {
		return err
	}
	for _, d := range exp.gone {
		if _, err := os.Stat(filepath.Join(dir, "blobs", string(d.Algorithm()), d.Encoded())); err == nil {
			return fmt.Errorf("blob %s, which the garbage collector deleted, is back", d)
		}
	}
	actual := map[string]ociregistry.Digest{}
	repos, err := ociregistry.All(r.Repositories(ctx, ""))
	if err != nil {
		return err
	}
	for _, repo := range repos {
		tags, err := ociregistry.All(r.Tags(ctx, repo, ""))
		if err != nil {
			return err
		}
		for _, tag := range tags {
			desc, err := verifyTag(ctx, r, repo, tag)
			if err != nil {
				return fmt.Errorf("tag %s:%s: %v", repo, tag, err)
			}
			actual[repo+":"+tag] = desc.Digest
		}
	}
	keys := map[string]bool{}
	for _, m := range []map[string]ociregistry.Digest{exp.committed, exp.pending, actual} {
		for k := range m {
			keys[k] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		got := actual[k]
		if got == exp.committed[k] {
			continue
		}
		if p, ok := exp.pending[k]; ok && got == p {
			continue
		}
		return fmt.Errorf("tag %s points to %q; want %q (or %q while it was being changed)", k, got, exp.committed[k], exp.pending[k])
	}
	return nil
}

// verifyTag reads the manifest a tag points to, by tag and by digest, and
// its blobs, checking every digest.
func verifyTag(ctx context.Context, r *Registry, repo, tag string) (ociregistry.Descriptor, error) {
	rd, err := r.GetTag(ctx, repo, tag)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	desc := rd.Descriptor()
	data, err := io.ReadAll(rd)
	rd.Close()
	if err != nil {
		return desc, err
	}
	if desc.Digest.Algorithm().FromBytes(data) != desc.Digest {
		return desc, fmt.Errorf("content does not have digest %s", desc.Digest)
	}
	if _, err := r.ResolveManifest(ctx, repo, desc.Digest); err != nil {
		return desc, err
	}
	pm, err := ocimanifest.Parse(data, desc.MediaType)
	if err != nil {
		return desc, err
	}
	for _, b := range pm.Blobs {
		rd, err := r.GetBlob(ctx, repo, b.Digest)
		if err != nil {
			return desc, err
		}
		data, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return desc, err
		}
		if b.Digest.Algorithm().FromBytes(data) != b.Digest {
			return desc, fmt.Errorf("blob %s does not verify", b.Digest)
		}
	}
	return desc, nil
}

// noSyncFS is the fsys of the registries that check what survived a
// power cut: what they change need not survive one, and not waiting for
// the disk keeps the test quick.
type noSyncFS struct{ osFS }

func (noSyncFS) syncDir(dir string) error { return nil }

// fastTempDir returns a temporary directory in memory where there is one
// (/dev/shm): the test writes out hundreds of directories, and what a
// disk would keep is modelled, not left to the disk.
func fastTempDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if dir, err := os.MkdirTemp("/dev/shm", "ocifs-powerloss-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
