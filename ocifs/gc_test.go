package ocifs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestGCDeletesUnreferenced(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	kept := pushImage(t, r, "a", "v1", 2)
	stray := pushBlob(t, r, "a", []byte("nothing refers to me"))
	gone := pushImage(t, r, "b", "v1", 2)
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "b", gone.manifest.Digest)))
	// Shared with a manifest of another repository: the link goes,
	// the content stays.
	_, err := r.MountBlob(ctx, "a", "c", kept.blobs[1].Digest)
	qt.Assert(t, qt.IsNil(err))
	// An abandoned upload, counted by the dry run too.
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	w.Write([]byte("abandoned"))
	w.Close()
	age(t, dir)

	dry, err := r.GC(ctx, ocifs.GCOptions{DryRun: true, UploadMaxAge: time.Hour})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(dry.Uploads, 1))
	before := files(t, dir)
	res, err := r.GC(ctx, ocifs.GCOptions{UploadMaxAge: time.Hour})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(dry, res))
	_, err = r.PushBlobChunkedResume(ctx, "a", w.ID(), -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))

	var want []ociregistry.Digest
	want = append(want, stray.Digest, gone.manifest.Digest)
	for _, b := range gone.blobs {
		want = append(want, b.Digest)
	}
	qt.Assert(t, qt.ContentEquals(res.Blobs, want))
	qt.Assert(t, qt.Equals(res.BlobLinks, 1+len(gone.blobs)+1))
	qt.Assert(t, qt.Not(qt.DeepEquals(files(t, dir), before)))

	for _, b := range kept.blobs {
		rd, err := r.GetBlob(ctx, "a", b.Digest)
		qt.Assert(t, qt.IsNil(err))
		rd.Close()
	}
	_, err = r.ResolveBlob(ctx, "a", stray.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.ResolveBlob(ctx, "c", kept.blobs[1].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.ResolveBlob(ctx, "b", gone.blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))

	// A second run finds nothing more.
	res, err = ocifs.GC(ctx, dir, ocifs.GCOptions{})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(res, ocifs.GCResult{}))
}

func TestGCGracePeriodKeepsNewBlobs(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	old := pushBlob(t, r, "a", []byte("old and unreferenced"))
	remounted := pushBlob(t, r, "b", []byte("old but mounted again"))
	age(t, dir)
	// Uploaded, its manifest not pushed yet.
	fresh := pushBlob(t, r, "a", []byte("new and not yet referenced"))
	// Old content linked again is new again.
	_, err := r.MountBlob(ctx, "b", "c", remounted.Digest)
	qt.Assert(t, qt.IsNil(err))

	res, err := ocifs.GC(ctx, dir, ocifs.GCOptions{GracePeriod: time.Hour})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(res.Blobs, []ociregistry.Digest{old.Digest}))
	_, err = r.ResolveBlob(ctx, "a", fresh.Digest)
	qt.Assert(t, qt.IsNil(err))
	_, err = r.ResolveBlob(ctx, "c", remounted.Digest)
	qt.Assert(t, qt.IsNil(err))
	// Its old link in b went; the content stays for c.
	_, err = r.ResolveBlob(ctx, "b", remounted.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
}

func TestGCUntagged(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	tagged := pushImage(t, r, "a", "v1", 1)
	untagged := pushImage(t, r, "a", "", 1)
	child := pushImage(t, r, "a", "", 1)
	sig := pushArtifact(t, r, "a", tagged.manifest)
	orphanSig := pushArtifact(t, r, "a", untagged.manifest)
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ociregistry.Descriptor{child.manifest}}
	idx.SchemaVersion = 2
	data, _ := json.Marshal(idx)
	_, err := r.PushManifest(ctx, "a", "index", data, ocispec.MediaTypeImageIndex)
	qt.Assert(t, qt.IsNil(err))
	age(t, dir)

	// By default untagged manifests stay.
	res, err := ocifs.GC(ctx, dir, ocifs.GCOptions{})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(res.Blobs, 0))

	res, err = ocifs.GC(ctx, dir, ocifs.GCOptions{DeleteUntagged: true})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(res.Manifests, 2))
	for _, d := range []ociregistry.Digest{tagged.manifest.Digest, child.manifest.Digest, sig.Digest} {
		_, err := r.ResolveManifest(ctx, "a", d)
		qt.Assert(t, qt.IsNil(err))
	}
	for _, d := range []ociregistry.Digest{untagged.manifest.Digest, orphanSig.Digest} {
		_, err := r.ResolveManifest(ctx, "a", d)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	}
	_, err = r.ResolveBlob(ctx, "a", untagged.blobs[1].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.ResolveBlob(ctx, "a", child.blobs[1].Digest)
	qt.Assert(t, qt.IsNil(err))
	refs, err := ociregistry.All(r.Referrers(ctx, "a", untagged.manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 0))
	refs, err = ociregistry.All(r.Referrers(ctx, "a", tagged.manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
}

// TestGCRacingPushes runs the collector over and over, with a grace
// period shorter than the test, while pushes go on in the same directory
// through another Registry: some mount old unreferenced blobs that the
// collector is after, some push new ones. Every push that succeeded must
// be whole at the end.
func TestGCRacingPushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	const pool = 40
	var old []ociregistry.Descriptor
	for i := range pool {
		old = append(old, pushBlob(t, r, "pool", []byte(fmt.Sprintf("old blob %d", i))))
	}
	age(t, dir)

	done := make(chan struct{})
	var gcErr error
	var gcRuns int
	go func() {
		defer close(done)
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if _, err := ocifs.GC(ctx, dir, ocifs.GCOptions{GracePeriod: time.Nanosecond, DeleteUntagged: true}); err != nil {
				gcErr = err
				return
			}
			gcRuns++
		}
	}()
	pusher, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	var mu sync.Mutex
	var pushed []image
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := newRand()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				repo := fmt.Sprintf("r%d", g)
				tag := fmt.Sprintf("t%d", i)
				var img image
				var err error
				if i%2 == 0 {
					img, err = pushImageErr(ctx, pusher, repo, tag, 2, rnd)
				} else {
					img, err = pushMounted(ctx, pusher, repo, tag, old[rnd.IntN(pool)])
				}
				if err == nil {
					mu.Lock()
					pushed = append(pushed, img)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	<-done
	qt.Assert(t, qt.IsNil(gcErr))
	t.Logf("%d pushes, %d collections", len(pushed), gcRuns)
	qt.Assert(t, qt.IsTrue(len(pushed) > 4))
	qt.Assert(t, qt.IsTrue(gcRuns > 1))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	for _, img := range pushed {
		repo := "r" + img.repo
		_, err := r2.ResolveManifest(ctx, repo, img.manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		for _, b := range img.blobs {
			rd, err := r2.GetBlob(ctx, repo, b.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(int64(len(readAll(t, rd))), b.Size))
		}
	}
}

// TestGCRacingPushesWithinGrace runs the collector over and over, with
// its default grace period, which is longer than the test, while pushes
// go on in the same directory through another Registry. The collector
// always has old unreferenced content to delete, and the pushes race it
// for that content: some push blobs with the same bytes as a blob it is
// deleting, some mount blobs pushed moments ago by other pushers, some
// push new content. Everything was pushed within the grace period, so
// every push must succeed and every image must be whole at the end.
func TestGCRacingPushesWithinGrace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	pusher, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))

	// stale holds content that is old and unreferenced in the
	// directory, as the collector left it there an hour and a half ago.
	var staleMu sync.Mutex
	var stale [][]byte
	addStale := func(data []byte) error {
		desc, err := r.PushBlob(ctx, "pool", descOf(data, "application/octet-stream"), bytes.NewReader(data))
		if err != nil {
			return err
		}
		// Aged before any pusher knows the content, so that no
		// push's own files are made to look old.
		old := timeAgo(90)
		for _, p := range []string{
			filepath.Join(dir, "blobs", "sha256", desc.Digest.Encoded()),
			filepath.Join(dir, "repos", "pool", "_blobs", "sha256", desc.Digest.Encoded()),
		} {
			if err := os.Chtimes(p, old, old); err != nil {
				return err
			}
		}
		staleMu.Lock()
		stale = append(stale, data)
		staleMu.Unlock()
		return nil
	}
	pickStale := func(rnd *rand.Rand) []byte {
		staleMu.Lock()
		defer staleMu.Unlock()
		// The newest are those the collector is about to delete.
		return stale[max(len(stale)-1-rnd.IntN(4), 0)]
	}
	for i := range 8 {
		qt.Assert(t, qt.IsNil(addStale([]byte(fmt.Sprintf("stale blob %d", i)))))
	}

	done := make(chan struct{})
	var gcErr error
	var gcRuns, gcDeleted int
	go func() {
		defer close(done)
		deadline := time.Now().Add(2 * time.Second)
		for i := 0; time.Now().Before(deadline) || gcRuns < 20; i++ {
			if err := addStale([]byte(fmt.Sprintf("stale blob %d", 8+i))); err != nil {
				gcErr = err
				return
			}
			res, err := ocifs.GC(ctx, dir, ocifs.GCOptions{DeleteUntagged: true})
			if err != nil {
				gcErr = err
				return
			}
			gcRuns++
			gcDeleted += len(res.Blobs)
		}
	}()

	var mu sync.Mutex
	var pushed []image
	var pushErrs []error
	var kinds [3]int
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := newRand()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				repo := fmt.Sprintf("r%d", g)
				tag := fmt.Sprintf("t%d", i)
				var img image
				var err error
				kind := i % 3
				mu.Lock()
				var from *image
				if kind == 2 && len(pushed) > 0 {
					from = &pushed[rnd.IntN(len(pushed))]
				}
				mu.Unlock()
				switch {
				case kind == 1:
					img, err = pushWithLayer(ctx, pusher, repo, tag, pickStale(rnd))
				case from != nil:
					img, err = pushMountedFrom(ctx, pusher, "r"+from.repo, repo, tag, from.blobs[len(from.blobs)-1])
				default:
					kind = 0
					img, err = pushImageErr(ctx, pusher, repo, tag, 2, rnd)
				}
				mu.Lock()
				if err != nil {
					pushErrs = append(pushErrs, fmt.Errorf("push %s:%s: %w", repo, tag, err))
				} else {
					pushed = append(pushed, img)
					kinds[kind]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-done
	qt.Assert(t, qt.IsNil(gcErr))
	t.Logf("%d pushes (new, stale content, mounted: %v), %d collections deleting %d blobs", len(pushed), kinds, gcRuns, gcDeleted)
	qt.Assert(t, qt.HasLen(pushErrs, 0))
	for _, n := range kinds {
		qt.Assert(t, qt.IsTrue(n > 0))
	}
	qt.Assert(t, qt.IsTrue(gcRuns >= 20))
	// The collector was deleting all along, not finding nothing to do.
	qt.Assert(t, qt.IsTrue(gcDeleted > 0))

	// One more collection, with nothing in flight.
	_, err = ocifs.GC(ctx, dir, ocifs.GCOptions{DeleteUntagged: true})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	for _, img := range pushed {
		repo := "r" + img.repo
		desc, err := r2.ResolveTag(ctx, repo, img.tag)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Digest, img.manifest.Digest))
		rd, err := r2.GetManifest(ctx, repo, img.manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(digest.FromBytes(readAll(t, rd)), img.manifest.Digest))
		for _, b := range img.blobs {
			rd, err := r2.GetBlob(ctx, repo, b.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(digest.FromBytes(readAll(t, rd)), b.Digest))
		}
	}
}

// pushWithLayer pushes a tagged manifest whose only layer is data,
// pushed with PushBlob.
func pushWithLayer(ctx context.Context, r ociregistry.Interface, repo, tag string, data []byte) (image, error) {
	img := image{repo: repo[1:], tag: tag}
	layer := descOf(data, ocispec.MediaTypeImageLayer)
	if _, err := r.PushBlob(ctx, repo, layer, bytes.NewReader(data)); err != nil {
		return img, err
	}
	return pushManifestOf(ctx, r, img, layer)
}

// pushMounted mounts an old blob from the pool and pushes a tagged
// manifest with it as the only layer.
func pushMounted(ctx context.Context, r ociregistry.Interface, repo, tag string, layer ociregistry.Descriptor) (image, error) {
	return pushMountedFrom(ctx, r, "pool", repo, tag, layer)
}

// pushMountedFrom mounts a blob from the repository from and pushes a
// tagged manifest with it as the only layer.
func pushMountedFrom(ctx context.Context, r ociregistry.Interface, from, repo, tag string, layer ociregistry.Descriptor) (image, error) {
	img := image{repo: repo[1:], tag: tag}
	if _, err := r.MountBlob(ctx, from, repo, layer.Digest); err != nil {
		return img, err
	}
	return pushManifestOf(ctx, r, img, layer)
}

// pushManifestOf pushes the empty config and a tagged manifest with
// layer, already in the repository, as its only layer.
func pushManifestOf(ctx context.Context, r ociregistry.Interface, img image, layer ociregistry.Descriptor) (image, error) {
	repo := "r" + img.repo
	cfg := ocispec.DescriptorEmptyJSON
	if _, err := r.PushBlob(ctx, repo, cfg, bytes.NewReader(cfg.Data)); err != nil {
		return img, err
	}
	cfg.Data = nil
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ociregistry.Descriptor{layer}}
	m.SchemaVersion = 2
	data, _ := json.Marshal(m)
	desc, err := r.PushManifest(ctx, repo, img.tag, data, ocispec.MediaTypeImageManifest)
	img.manifest = desc
	img.blobs = []ociregistry.Descriptor{cfg, layer}
	return img, err
}
