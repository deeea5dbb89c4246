package ocicopy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocicopy"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocilayout"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// backend makes an empty registry of one kind for a test.
type backend struct {
	name string
	new  func(t *testing.T) ociregistry.Interface
}

var backends = []backend{
	{"ocimem", func(t *testing.T) ociregistry.Interface { return ocimem.New() }},
	{"ocifs", func(t *testing.T) ociregistry.Interface {
		r, err := ocifs.New(t.TempDir(), nil)
		qt.Assert(t, qt.IsNil(err))
		return r
	}},
	{"ocilayout", func(t *testing.T) ociregistry.Interface {
		l, err := ocilayout.Create(t.TempDir())
		qt.Assert(t, qt.IsNil(err))
		return l
	}},
	{"ociclient", func(t *testing.T) ociregistry.Interface {
		return newClient(t, ocitest.NewServer(t, ocimem.New()))
	}},
}

func newClient(t *testing.T, host string) ociregistry.Interface {
	r, err := ociclient.New(host, &ociclient.Options{Insecure: true})
	qt.Assert(t, qt.IsNil(err))
	return r
}

// content is an index of two images, tagged v1, and a signature of the
// index, in a source repository.
type content struct {
	index ocitest.Pushed
	sig   ocitest.Pushed
}

func pushContent(t *testing.T, r ociregistry.Interface, repo string) content {
	idx := ocitest.PushRandomIndex(t, r, repo, "v1")
	sig := ocitest.PushRandomArtifact(t, r, repo, idx.Manifest, "application/vnd.test.signature")
	return content{index: idx, sig: sig}
}

// checkCopied checks that r holds in repo, byte for byte, everything c
// holds, the index tagged v1.
func checkCopied(t *testing.T, r ociregistry.Interface, repo string, c content) {
	t.Helper()
	ctx := context.Background()
	desc, err := r.ResolveTag(ctx, repo, "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, c.index.Manifest.Digest))
	for _, p := range append([]ocitest.Pushed{c.index, c.sig}, c.index.Children...) {
		rd, err := r.GetManifest(ctx, repo, p.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err), qt.Commentf("manifest %s", p.Manifest.Digest))
		qt.Check(t, qt.DeepEquals(readAll(t, rd), p.Content))
		qt.Check(t, qt.Equals(rd.Descriptor().MediaType, p.Manifest.MediaType))
	}
	for d, data := range c.index.BlobContent {
		rd, err := r.GetBlob(ctx, repo, d)
		qt.Assert(t, qt.IsNil(err), qt.Commentf("blob %s", d))
		qt.Check(t, qt.DeepEquals(readAll(t, rd), data))
	}
	refs, err := ociregistry.All(r.Referrers(ctx, repo, c.index.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Check(t, qt.Equals(refs[0].Digest, c.sig.Manifest.Digest))
}

func readAll(t *testing.T, r ociregistry.BlobReader) []byte {
	t.Helper()
	defer r.Close()
	data, err := io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// TestCopyBetweenBackends copies an index with its referrer from each
// kind of registry to each other kind, and then copies it again, which
// must find everything there and push nothing.
func TestCopyBetweenBackends(t *testing.T) {
	for _, from := range backends {
		for _, to := range backends {
			t.Run(from.name+"-to-"+to.name, func(t *testing.T) {
				ctx := context.Background()
				src, dst := from.new(t), to.new(t)
				c := pushContent(t, src, "src/repo")
				var events []ocicopy.Event
				opts := &ocicopy.Options{
					Referrers: true,
					Progress:  func(ev ocicopy.Event) { events = append(events, ev) },
				}
				desc, err := ocicopy.Copy(ctx, src, "src/repo", dst, "dst/repo", "v1", opts)
				qt.Assert(t, qt.IsNil(err))
				qt.Check(t, qt.Equals(desc.Digest, c.index.Manifest.Digest))
				qt.Check(t, qt.Equals(desc.MediaType, ocispec.MediaTypeImageIndex))
				checkCopied(t, dst, "dst/repo", c)
				qt.Check(t, qt.Equals(count(events, ocicopy.ManifestPushed), 4))

				events = nil
				_, err = ocicopy.Copy(ctx, src, "src/repo", dst, "dst/repo", "v1", opts)
				qt.Assert(t, qt.IsNil(err))
				qt.Check(t, qt.Equals(count(events, ocicopy.ManifestPushed), 0))
				qt.Check(t, qt.Equals(count(events, ocicopy.ManifestSkipped), 4))
				qt.Check(t, qt.Equals(count(events, ocicopy.BlobCopied), 0))
			})
		}
	}
}

func count(events []ocicopy.Event, kind ocicopy.EventKind) int {
	n := 0
	for _, ev := range events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// recorder wraps a registry and counts the calls of the methods that
// transfer content, and how many GetBlob calls run at once.
type recorder struct {
	ociregistry.Interface
	// wait makes each GetBlob wait, for at most that long, until
	// another GetBlob is under way too.
	wait time.Duration

	mu            sync.Mutex
	getTags       int
	getManifests  int
	manActive     int
	manMost       int
	getBlobs      int
	pushedBlobs   map[ociregistry.Digest]int
	mounts        int
	manifestPuts  []ociregistry.Digest
	active, most  int
	failManifests error
}

func newRecorder(r ociregistry.Interface) *recorder {
	return &recorder{Interface: r, pushedBlobs: map[ociregistry.Digest]int{}}
}

func (r *recorder) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	r.mu.Lock()
	r.getBlobs++
	r.active++
	r.most = max(r.most, r.active)
	deadline := time.Now().Add(r.wait)
	for r.active < 2 && time.Now().Before(deadline) {
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
		r.mu.Lock()
	}
	r.active--
	r.mu.Unlock()
	return r.Interface.GetBlob(ctx, repo, dig)
}

func (r *recorder) GetTag(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
	r.mu.Lock()
	r.getTags++
	r.mu.Unlock()
	return r.Interface.GetTag(ctx, repo, tag)
}

func (r *recorder) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	r.mu.Lock()
	r.getManifests++
	r.manActive++
	r.manMost = max(r.manMost, r.manActive)
	deadline := time.Now().Add(r.wait)
	for r.manActive < 2 && time.Now().Before(deadline) {
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
		r.mu.Lock()
	}
	r.manActive--
	r.mu.Unlock()
	return r.Interface.GetManifest(ctx, repo, dig)
}

func (r *recorder) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	r.mu.Lock()
	r.pushedBlobs[desc.Digest]++
	r.mu.Unlock()
	return r.Interface.PushBlob(ctx, repo, desc, rd)
}

func (r *recorder) MountBlob(ctx context.Context, from, to string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	r.mu.Lock()
	r.mounts++
	r.mu.Unlock()
	return r.Interface.MountBlob(ctx, from, to, dig)
}

func (r *recorder) PushManifest(ctx context.Context, repo, tag string, data []byte, mediaType string) (ociregistry.Descriptor, error) {
	r.mu.Lock()
	r.manifestPuts = append(r.manifestPuts, digest.FromBytes(data))
	err := r.failManifests
	r.mu.Unlock()
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return r.Interface.PushManifest(ctx, repo, tag, data, mediaType)
}

// TestConcurrency checks that Concurrency bounds the blobs copied at
// once, and that they are copied at once up to it.
func TestConcurrency(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mem := ocimem.New()
			img := ocitest.PushRandomImage(t, mem, "src", "v1") // three blobs
			src := newRecorder(mem)
			src.wait = 300 * time.Millisecond
			dst := ocimem.New()
			desc, err := ocicopy.Copy(context.Background(), src, "src", dst, "dst", "v1", &ocicopy.Options{Concurrency: n})
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
			qt.Check(t, qt.Equals(src.most, n))
		})
	}
}

// TestChildren checks that the children of an index are fetched at
// once, within Concurrency, and that those the destination has are not
// fetched at all.
func TestChildren(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			mem := ocimem.New()
			idx := ocitest.PushRandomIndex(t, mem, "src", "v1")
			src := newRecorder(mem)
			src.wait = 300 * time.Millisecond
			dst := ocimem.New()
			_, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", &ocicopy.Options{Concurrency: n})
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(src.manMost, n))
			qt.Check(t, qt.Equals(src.getManifests, 2))

			// Without the index, the copy fetches only it again.
			qt.Assert(t, qt.IsNil(dst.DeleteManifest(ctx, "dst", idx.Manifest.Digest)))
			src.wait, src.getManifests, src.getBlobs = 0, 0, 0
			_, err = ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", &ocicopy.Options{Concurrency: n})
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(src.getManifests, 0)) // GetTag fetched the index
			qt.Check(t, qt.Equals(src.getBlobs, 0))
			got, err := dst.ResolveTag(ctx, "dst", "v1")
			qt.Assert(t, qt.IsNil(err))
			qt.Check(t, qt.Equals(got.Digest, idx.Manifest.Digest))
		})
	}
}

// TestCopyAll copies two images that share their blobs into one
// repository: each blob is copied once, the images share the bound on
// transfers, and an image that fails does not stop the other.
func TestCopyAll(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "src", "v1")
	// The same image under another tag, and an annotated variant of
	// it with the same config and layers.
	_, err := mem.PushManifest(ctx, "src", "v2", img.Content, img.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	var m ociregistry.Manifest
	qt.Assert(t, qt.IsNil(json.Unmarshal(img.Content, &m)))
	m.Annotations = map[string]string{"variant": "yes"}
	variant, err := json.Marshal(m)
	qt.Assert(t, qt.IsNil(err))
	variantDesc, err := mem.PushManifest(ctx, "src", "v3", variant, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))

	src := newRecorder(mem)
	src.wait = 100 * time.Millisecond
	dstMem := ocimem.New()
	// The destination does not say which blobs it has, so that only
	// sharing the copies keeps a blob from being copied for each image.
	dst := newRecorder(&blind{Interface: dstMem})
	images := []ocicopy.Image{
		{Src: src, SrcRepo: "src", Ref: "v1", Dst: dst, DstRepo: "dst"},
		{Src: src, SrcRepo: "src", Ref: "missing", Dst: dst, DstRepo: "dst"},
		{Src: src, SrcRepo: "src", Ref: "v3", Dst: dst, DstRepo: "dst", Tag: "variant"},
		{Src: src, SrcRepo: "src", Ref: string(img.Manifest.Digest), Dst: dst, DstRepo: "other"},
	}
	descs, err := ocicopy.CopyAll(ctx, images, &ocicopy.Options{Concurrency: 2})
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Check(t, qt.ErrorMatches(err, `src:missing: source: tag missing: .*`))
	qt.Check(t, qt.Equals(descs[0].Digest, img.Manifest.Digest))
	qt.Check(t, qt.Equals(descs[1].Digest, ociregistry.Digest("")))
	qt.Check(t, qt.Equals(descs[2].Digest, variantDesc.Digest))
	qt.Check(t, qt.Equals(descs[3].Digest, img.Manifest.Digest))

	// Three blobs, each copied once to dst and once to other.
	qt.Check(t, qt.HasLen(dst.pushedBlobs, 3))
	for d, n := range dst.pushedBlobs {
		qt.Check(t, qt.Equals(n, 2), qt.Commentf("blob %s", d))
	}
	qt.Check(t, qt.Equals(src.getBlobs, 6))
	qt.Check(t, qt.Equals(src.most, 2))

	for tag, want := range map[string]ociregistry.Digest{"v1": img.Manifest.Digest, "variant": variantDesc.Digest} {
		desc, err := dstMem.ResolveTag(ctx, "dst", tag)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(desc.Digest, want))
	}
	// A copy by digest gets no tag.
	tags, err := ociregistry.All(dstMem.Tags(ctx, "other", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.HasLen(tags, 0))
	_, err = dstMem.ResolveManifest(ctx, "other", img.Manifest.Digest)
	qt.Check(t, qt.IsNil(err))
}

// blind is a registry that never says it has a blob.
type blind struct{ ociregistry.Interface }

func (b *blind) ResolveBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	return ociregistry.Descriptor{}, ociregistry.ErrBlobUnknown
}

// TestCopyAllInFlight checks that CopyAll starts an image only when few
// enough others are under way, as each holds its manifests in memory.
func TestCopyAllInFlight(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	var images []ocicopy.Image
	src := newRecorder(mem)
	// Slow blobs, so that images that have started show.
	src.wait = 20 * time.Millisecond
	for i := range 20 {
		tag := fmt.Sprint("v", i)
		ocitest.PushRandomImage(t, mem, "src", tag)
		images = append(images, ocicopy.Image{Src: src, SrcRepo: "src", Ref: tag, Dst: ocimem.New(), DstRepo: "dst"})
	}
	started := -1
	_, err := ocicopy.CopyAll(ctx, images, &ocicopy.Options{
		Concurrency: 1,
		Progress: func(ev ocicopy.Event) {
			if ev.Kind == ocicopy.ManifestPushed && started < 0 {
				src.mu.Lock()
				started = src.getTags
				src.mu.Unlock()
			}
		},
	})
	qt.Assert(t, qt.IsNil(err))
	// Two images in flight for one transfer at once: when the first
	// image is done, at most the second has started besides.
	qt.Check(t, qt.IsTrue(started >= 1 && started <= 2), qt.Commentf("started %d", started))
	qt.Check(t, qt.Equals(src.getTags, 20))
}

// TestMount checks that with Mount the destination mounts the blobs it
// lacks instead of their being copied, and that blobs it refuses to
// mount are copied.
func TestMount(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "src", "v1")
	reg := newRecorder(mem)
	var events []ocicopy.Event
	opts := &ocicopy.Options{Mount: true, Progress: func(ev ocicopy.Event) { events = append(events, ev) }}
	_, err := ocicopy.Copy(ctx, reg, "src", reg, "dst", "v1", opts)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(reg.mounts, 3))
	qt.Check(t, qt.Equals(reg.getBlobs, 0))
	qt.Check(t, qt.Equals(count(events, ocicopy.BlobMounted), 3))
	for _, b := range img.Blobs {
		_, err := mem.ResolveBlob(ctx, "dst", b.Digest)
		qt.Check(t, qt.IsNil(err))
	}

	// A registry that cannot mount gets copies.
	dst := newRecorder(&unmountable{Interface: ocimem.New()})
	_, err = ocicopy.Copy(ctx, reg, "src", dst, "dst", "v1", opts)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(dst.mounts, 3))
	qt.Check(t, qt.HasLen(dst.pushedBlobs, 3))
}

// unmountable is a registry that refuses every mount.
type unmountable struct{ ociregistry.Interface }

func (u *unmountable) MountBlob(ctx context.Context, from, to string, dig ociregistry.Digest) (ociregistry.Descriptor, error) {
	return ociregistry.Descriptor{}, ociregistry.ErrUnsupported
}

// TestPlatform checks that Platform copies only the image for it from an
// index, tagged, and that a platform the index lacks fails with the
// platforms it has.
func TestPlatform(t *testing.T) {
	ctx := context.Background()
	src := ocimem.New()
	idx := ocitest.PushRandomIndex(t, src, "src", "v1") // linux/amd64, linux/arm64
	dst := ocimem.New()
	desc, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", &ocicopy.Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}})
	qt.Assert(t, qt.IsNil(err))
	arm := idx.Children[1]
	qt.Check(t, qt.Equals(desc.Digest, arm.Manifest.Digest))
	resolved, err := ocicopy.Resolve(ctx, src, "src", "v1", &ocicopy.Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64"}})
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(resolved.Digest, arm.Manifest.Digest))
	resolved, err = ocicopy.Resolve(ctx, src, "src", "v1", nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(resolved.Digest, idx.Manifest.Digest))
	got, err := dst.ResolveTag(ctx, "dst", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(got.Digest, arm.Manifest.Digest))
	_, err = dst.ResolveManifest(ctx, "dst", idx.Manifest.Digest)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = dst.ResolveManifest(ctx, "dst", idx.Children[0].Manifest.Digest)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))

	_, err = ocicopy.Copy(ctx, src, "src", dst, "dst2", "v1", &ocicopy.Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}})
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Check(t, qt.ErrorMatches(err, `no image for platform linux/s390x \(the index has: linux/amd64, linux/arm64\)`))
	var npe *ocicopy.NoPlatformError
	qt.Assert(t, qt.ErrorAs(err, &npe))
	qt.Check(t, qt.HasLen(npe.Have, 2))

	// An image is copied as it is.
	img := ocitest.PushRandomImage(t, src, "src", "single")
	desc, err = ocicopy.Copy(ctx, src, "src", dst, "dst", "single", &ocicopy.Options{Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x"}})
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, img.Manifest.Digest))
}

func TestParsePlatform(t *testing.T) {
	for _, test := range []struct {
		in   string
		want *ocispec.Platform
	}{
		{"linux/amd64", &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		{"linux/arm64/v8", &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
		{"linux", nil},
		{"linux//v8", nil},
		{"a/b/c/d", nil},
	} {
		got, err := ocicopy.ParsePlatform(test.in)
		if test.want == nil {
			qt.Check(t, qt.ErrorMatches(err, `invalid platform .*`), qt.Commentf("%s", test.in))
			continue
		}
		qt.Check(t, qt.IsNil(err))
		qt.Check(t, qt.DeepEquals(got, test.want))
	}
}

// TestBlobThatIsAManifest checks that content that is both a manifest and
// a blob is copied as both: an index whose first child is the image M,
// and whose second child is an artifact carrying M's bytes as its layer.
func TestBlobThatIsAManifest(t *testing.T) {
	ctx := context.Background()
	src := ocimem.New()
	img := ocitest.PushRandomImage(t, src, "src", "")
	push := func(mediaType string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		_, err := src.PushBlob(ctx, "src", desc, bytes.NewReader(data))
		qt.Assert(t, qt.IsNil(err))
		return desc
	}
	marshal := func(v any) []byte {
		data, err := json.Marshal(v)
		qt.Assert(t, qt.IsNil(err))
		return data
	}
	layer := push("application/vnd.test.manifest-copy", img.Content)
	artifact := marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test.backup",
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
	})
	push(ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	artifactDesc, err := src.PushManifest(ctx, "src", "", artifact, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	index := marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{img.Manifest, artifactDesc},
	})
	indexDesc, err := src.PushManifest(ctx, "src", "v1", index, ocispec.MediaTypeImageIndex)
	qt.Assert(t, qt.IsNil(err))

	dst := ocimem.New()
	desc, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, indexDesc.Digest))
	// M is there as a manifest and as a blob.
	_, err = dst.ResolveManifest(ctx, "dst", img.Manifest.Digest)
	qt.Check(t, qt.IsNil(err))
	_, err = dst.ResolveBlob(ctx, "dst", img.Manifest.Digest)
	qt.Check(t, qt.IsNil(err))
}

// lyingSource serves, for one digest, other content than it names.
type lyingSource struct {
	ociregistry.Interface
	dig  ociregistry.Digest
	data []byte
}

func (l *lyingSource) GetManifest(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	if dig == l.dig {
		return ociregistry.NewBytesReader(l.data, ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: dig, Size: int64(len(l.data))}), nil
	}
	return l.Interface.GetManifest(ctx, repo, dig)
}

func (l *lyingSource) GetBlob(ctx context.Context, repo string, dig ociregistry.Digest) (ociregistry.BlobReader, error) {
	if dig == l.dig {
		return ociregistry.NewBytesReader(l.data, ociregistry.Descriptor{Digest: dig, Size: int64(len(l.data))}), nil
	}
	return l.Interface.GetBlob(ctx, repo, dig)
}

// TestErrors checks what Copy says when a registry fails: which side,
// and an error that Is the registry's.
func TestErrors(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	idx := ocitest.PushRandomIndex(t, mem, "src", "v1")
	child := idx.Children[0]
	other := ocitest.PushRandomImage(t, mem, "src", "other")
	badDst := newRecorder(ocimem.New())
	badDst.failManifests = fmt.Errorf("refused: %w", ociregistry.ErrDenied)

	tests := []struct {
		name     string
		src, dst ociregistry.Interface
		ref      string
		side     ocicopy.Side
		want     error
		msg      string
	}{{
		name: "MissingTag",
		src:  mem, dst: ocimem.New(), ref: "nope",
		side: ocicopy.Source, want: ociregistry.ErrManifestUnknown,
		msg: `source: tag nope: .*`,
	}, {
		name: "MissingDigest",
		src:  mem, dst: ocimem.New(), ref: string(ocitest.Digest([]byte("x"))),
		side: ocicopy.Source, want: ociregistry.ErrManifestUnknown,
		msg: `source: manifest sha256:[0-9a-f]+: .*`,
	}, {
		name: "ChildWithOtherContent",
		src:  &lyingSource{Interface: mem, dig: child.Manifest.Digest, data: other.Content}, dst: ocimem.New(), ref: "v1",
		side: ocicopy.Source, want: ociregistry.ErrDigestInvalid,
		msg: `source: manifest sha256:[0-9a-f]+: content has digest sha256:[0-9a-f]+, not sha256:[0-9a-f]+: .*`,
	}, {
		name: "BlobWithOtherContent",
		src:  &lyingSource{Interface: mem, dig: child.Blobs[1].Digest, data: []byte("other")}, dst: ocimem.New(), ref: "v1",
		side: ocicopy.Source, want: ociregistry.ErrSizeInvalid,
		msg: `source: blob sha256:[0-9a-f]+: the content does not match its descriptor: .*`,
	}, {
		name: "DestinationRefuses",
		src:  mem, dst: badDst, ref: "v1",
		side: ocicopy.Destination, want: ociregistry.ErrDenied,
		msg: `destination: pushing manifest sha256:[0-9a-f]+: refused: .*`,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			_, err := ocicopy.Copy(ctx, test.src, "src", test.dst, "dst", test.ref, nil)
			qt.Assert(t, qt.ErrorIs(err, test.want))
			var ce *ocicopy.Error
			qt.Assert(t, qt.ErrorAs(err, &ce))
			qt.Check(t, qt.Equals(ce.Side, test.side))
			qt.Check(t, qt.ErrorMatches(err, test.msg))
			// Nothing was tagged.
			_, err = test.dst.ResolveTag(ctx, "dst", "v1")
			qt.Check(t, qt.IsNotNil(err))
		})
	}
	_, err := ocicopy.Copy(ctx, mem, "src", ocimem.New(), "dst", "bad tag", nil)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))
	_, err = ocicopy.Copy(ctx, mem, "src", ocimem.New(), "dst", "sha256:abc", nil)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
}

// TestCancel checks that a cancelled context stops a copy with its
// error.
func TestCancel(t *testing.T) {
	mem := ocimem.New()
	ocitest.PushRandomIndex(t, mem, "src", "v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ocicopy.Copy(ctx, mem, "src", ocimem.New(), "dst", "v1", nil)
	qt.Check(t, qt.ErrorIs(err, context.Canceled))
}

// TestProgress checks that the events add up: the bytes of the blobs
// planned are those copied, skipped or mounted, and each blob planned
// ends in exactly one of those.
func TestProgress(t *testing.T) {
	ctx := context.Background()
	src := ocimem.New()
	idx := ocitest.PushRandomIndex(t, src, "src", "v1")
	dst := ocimem.New()
	// One blob is there already.
	have := idx.Children[0].Blobs[1]
	ocitest.PushBlob(t, dst, "dst", idx.BlobContent[have.Digest])

	var planned, done, bytesRead int64
	ended := map[ociregistry.Digest]ocicopy.EventKind{}
	opts := &ocicopy.Options{Progress: func(ev ocicopy.Event) {
		switch ev.Kind {
		case ocicopy.BlobPlanned:
			planned += ev.Descriptor.Size
		case ocicopy.BlobBytes:
			bytesRead += ev.Bytes
		case ocicopy.BlobCopied, ocicopy.BlobSkipped, ocicopy.BlobMounted:
			_, dup := ended[ev.Descriptor.Digest]
			qt.Check(t, qt.IsFalse(dup))
			ended[ev.Descriptor.Digest] = ev.Kind
			if ev.Kind != ocicopy.BlobCopied {
				done += ev.Descriptor.Size
			}
		}
	}}
	_, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", opts)
	qt.Assert(t, qt.IsNil(err))
	var total int64
	for _, data := range idx.BlobContent {
		total += int64(len(data))
	}
	qt.Check(t, qt.Equals(planned, total))
	qt.Check(t, qt.Equals(done+bytesRead, total))
	qt.Check(t, qt.HasLen(ended, len(idx.BlobContent)))
	qt.Check(t, qt.Equals(ended[have.Digest], ocicopy.BlobSkipped))
	qt.Check(t, qt.Equals(ocicopy.BlobSkipped.String(), "BlobSkipped"))
}

// TestManifestsChildrenFirst checks the order of the pushes: each child
// before its index, each subject before its referrer.
func TestManifestsChildrenFirst(t *testing.T) {
	ctx := context.Background()
	src := ocimem.New()
	c := pushContent(t, src, "src")
	dst := newRecorder(ocimem.New())
	_, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", &ocicopy.Options{Referrers: true})
	qt.Assert(t, qt.IsNil(err))
	pos := func(d ociregistry.Digest) int { return slices.Index(dst.manifestPuts, d) }
	qt.Assert(t, qt.HasLen(dst.manifestPuts, 4))
	for _, child := range c.index.Children {
		qt.Check(t, qt.IsTrue(pos(child.Manifest.Digest) < pos(c.index.Manifest.Digest)))
	}
	qt.Check(t, qt.IsTrue(pos(c.index.Manifest.Digest) < pos(c.sig.Manifest.Digest)))
}

// TestCopyDistribution copies an index and its referrer into CNCF
// Distribution and from it into a layout, through ociclient: the far
// registry checks what a real one checks, and lists referrers through
// its referrers API or the tag schema.
func TestCopyDistribution(t *testing.T) {
	ctx := context.Background()
	dist := newClient(t, toolstest.StartDistribution(t))
	src := ocimem.New()
	c := pushContent(t, src, "src")
	opts := &ocicopy.Options{Referrers: true}
	_, err := ocicopy.Copy(ctx, src, "src", dist, "mirror/app", "v1", opts)
	qt.Assert(t, qt.IsNil(err))
	checkCopied(t, dist, "mirror/app", c)

	// Within Distribution, by mounts.
	var events []ocicopy.Event
	opts.Mount = true
	opts.Progress = func(ev ocicopy.Event) { events = append(events, ev) }
	_, err = ocicopy.Copy(ctx, dist, "mirror/app", dist, "mirror/copy", "v1", opts)
	qt.Assert(t, qt.IsNil(err))
	checkCopied(t, dist, "mirror/copy", c)
	qt.Check(t, qt.Equals(count(events, ocicopy.BlobMounted), len(c.index.BlobContent)+len(c.sig.BlobContent)))
	qt.Check(t, qt.Equals(count(events, ocicopy.BlobCopied), 0))

	l, err := ocilayout.Create(t.TempDir())
	qt.Assert(t, qt.IsNil(err))
	_, err = ocicopy.Copy(ctx, dist, "mirror/copy", l, "", "v1", &ocicopy.Options{Referrers: true})
	qt.Assert(t, qt.IsNil(err))
	checkCopied(t, l, "", c)
}

// untyped is a registry that does not say the media type of manifests,
// as some servers send no Content-Type.
type untyped struct{ ociregistry.Interface }

func (u *untyped) GetTag(ctx context.Context, repo, tag string) (ociregistry.BlobReader, error) {
	r, err := u.Interface.GetTag(ctx, repo, tag)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	desc := r.Descriptor()
	desc.MediaType = ""
	return ociregistry.NewBytesReader(data, desc), nil
}

// TestUntypedSource checks that a manifest whose source gives no media
// type is pushed with the one its content says, also when only its tag
// is missing at the destination.
func TestUntypedSource(t *testing.T) {
	ctx := context.Background()
	mem := ocimem.New()
	img := ocitest.PushRandomImage(t, mem, "src", "v1")
	src := &untyped{mem}
	// Over HTTP, a manifest needs its media type.
	dst := newClient(t, ocitest.NewServer(t, ocimem.New()))
	desc, err := ocicopy.Copy(ctx, src, "src", dst, "dst", "v1", nil)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.MediaType, ocispec.MediaTypeImageManifest))
	_, err = ocicopy.CopyAll(ctx, []ocicopy.Image{{Src: src, SrcRepo: "src", Ref: "v1", Dst: dst, DstRepo: "dst", Tag: "v2"}}, nil)
	qt.Assert(t, qt.IsNil(err))
	got, err := dst.ResolveTag(ctx, "dst", "v2")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(got.Digest, img.Manifest.Digest))
	qt.Check(t, qt.Equals(got.MediaType, ocispec.MediaTypeImageManifest))
}
