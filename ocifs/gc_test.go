package ocifs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
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
	age(t, dir)

	dry, err := r.GC(ctx, ocifs.GCOptions{DryRun: true})
	qt.Assert(t, qt.IsNil(err))
	before := files(t, dir)
	res, err := r.GC(ctx, ocifs.GCOptions{})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(dry, res))

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

// pushMounted mounts an old blob from the pool and pushes a tagged
// manifest with it as the only layer.
func pushMounted(ctx context.Context, r ociregistry.Interface, repo, tag string, layer ociregistry.Descriptor) (image, error) {
	img := image{repo: repo[1:]}
	if _, err := r.MountBlob(ctx, "pool", repo, layer.Digest); err != nil {
		return img, err
	}
	cfg := ocispec.DescriptorEmptyJSON
	if _, err := r.PushBlob(ctx, repo, cfg, bytes.NewReader(cfg.Data)); err != nil {
		return img, err
	}
	cfg.Data = nil
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ociregistry.Descriptor{layer}}
	m.SchemaVersion = 2
	data, _ := json.Marshal(m)
	desc, err := r.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest)
	img.manifest = desc
	img.blobs = []ociregistry.Descriptor{cfg, layer}
	return img, err
}
