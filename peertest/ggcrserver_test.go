package peertest

// The tests in this file turn the other peer tests round: our client,
// ociclient, talks to a server we did not write, go-containerregistry's
// in-process registry (pkg/registry), so that what ociclient sends and
// how it reads the answers are checked against another reading of the
// specification.

import (
	"io"
	"log"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocitest"
)

// newGGCRServer starts a fresh go-containerregistry registry with opts
// until t ends and returns its host. The registry's request log is
// discarded: it logs every request and would drown the test output.
func newGGCRServer(t *testing.T, opts ...registry.Option) string {
	t.Helper()
	opts = append([]registry.Option{registry.Logger(log.New(io.Discard, "", 0))}, opts...)
	srv := httptest.NewServer(registry.New(opts...))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// newGGCRClient returns our client talking to a fresh ggcr registry
// started with opts. Retries are off so that a wrong status fails fast
// instead of being retried.
func newGGCRClient(t *testing.T, opts ...registry.Option) (ociregistry.Interface, string) {
	t.Helper()
	host := newGGCRServer(t, opts...)
	c, err := ociclient.New(host, &ociclient.Options{MaxRetries: -1})
	qt.Assert(t, qt.IsNil(err))
	return c, host
}

// Reasons for skipping subtests of the suite against ggcr's registry.
// All were observed by running the suite with no skips.
const (
	// ggcr's in-memory blob store is keyed by digest alone, so a blob
	// pushed to one repository is readable from every other: GetBlob
	// of test/b answers 200 for a blob pushed only to test/a, and a
	// "mount" from a repository that lacks the blob succeeds (ggcr
	// ignores mount= and our client falls back to copying, which then
	// finds the blob).
	ggcrGlobalBlobs = "ggcr deviation: blobs are global, not per repository"

	// ggcr answers DELETE of an absent blob with 500 and message "not
	// found" instead of 404 BLOB_UNKNOWN. Our client rightly does not
	// turn a 500 into ErrBlobUnknown.
	ggcrDelete500 = "ggcr deviation: DELETE of an absent blob answers 500, not 404 BLOB_UNKNOWN"
)

// ggcrSuiteSkips maps a subtest of the suite (its name below the
// top-level test) to why it is skipped against ggcr's registry.
var ggcrSuiteSkips = map[string]string{
	"Blob/PerRepository": ggcrGlobalBlobs,
	"Mount/Absent":       ggcrGlobalBlobs,
	// ggcr routes DELETE <upload location> to the blob handler, which
	// reads the upload ID as a digest and answers 400 NAME_INVALID
	// "invalid digest"; BlobWriter.Cancel returns that error.
	"Upload/CancelThenResume": "ggcr deviation: no DELETE of an upload session (end-14), answers 400",
	// ggcr validates only image indexes: it stores "not json", a
	// truncated manifest and a JSON array as image manifests with 201.
	"Manifest/Invalid": "ggcr deviation: image manifests are not validated, so no MANIFEST_INVALID",
	// ggcr checks no descriptor's size against what it stores.
	"Manifest/WrongSize": "ggcr deviation: descriptor sizes are not checked, so no MANIFEST_INVALID",
	// ggcr stores each push's content type with the content, the last
	// replacing the first.
	"Manifest/FirstMediaType": "ggcr deviation: a manifest takes the media type of its latest push",
	"Delete/Unknown":          ggcrDelete500,
	"Delete/Blob":             ggcrDelete500,
	// ggcr stores a tag as its own copy of the manifest, so deleting
	// the manifest by digest leaves the tag resolvable.
	"Delete/Manifest": "ggcr deviation: deleting a manifest by digest leaves its tags in place",
}

// TestGGCRServerSuite runs the shared behavioural suite against ociclient
// talking to ggcr's registry, a fresh one per subtest.
func TestGGCRServerSuite(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface {
			_, sub, _ := strings.Cut(t.Name(), "/")
			if why, ok := ggcrSuiteSkips[sub]; ok {
				t.Skip(why)
			}
			c, _ := newGGCRClient(t)
			return c
		},
		// ggcr checks only that an index's child manifests exist (and
		// then answers 404 MANIFEST_UNKNOWN, not MANIFEST_BLOB_UNKNOWN);
		// an image manifest whose config or layers were never pushed
		// is stored with 201.
		LaxReferences: true,
		// ggcr has no GET of an upload's status (end-13: GET <location> is read
		// as a blob GET and answers 400 NAME_INVALID "invalid digest"),
		// so an upload cannot be resumed by ID.
		NoChunkedResume: true,
		// ggcr's catalog lists only the repositories that hold a
		// manifest, and Names/BadRepository checks that the catalog
		// holds its test/ok, a repository of blobs alone. The
		// Lister/Repositories subtests pass without this (ociclient
		// sorts ggcr's unsorted page and skips up to last itself), and
		// TestGGCRServerCatalog checks the catalog in their place.
		NoRepositories: true,
		// Not set, because the suite passes with them on:
		//   - NoReferrers: ggcr has no referrers API by default (404),
		//     and ociclient's tag-schema fallback passes every Referrers
		//     subtest. With WithReferrersSupport(true) ggcr's API reports
		//     config.mediaType as artifactType, ignoring the manifest's
		//     artifactType; see TestGGCRServerReferrersAPI.
		//   - NoMount: ggcr ignores mount= and starts an upload (202);
		//     ociclient then copies the blob, which the suite accepts.
		//   - NoDelete: manifests, tags and present blobs are deleted.
	})
}

// TestGGCRServerOurPushTheirPull pushes with ociclient and pulls the
// same content with ggcr's client, through ggcr's registry.
func TestGGCRServerOurPushTheirPull(t *testing.T) {
	c, host := newGGCRClient(t)
	img := ocitest.PushRandomImage(t, c, "ours/img", "v1")
	idx := ocitest.PushRandomIndex(t, c, "ours/idx", "v1")

	t.Run("Image", func(t *testing.T) {
		got, err := remote.Image(ggcrTag(t, host, "ours/img:v1"), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(mustRaw(t, got), img.Content))
		qt.Assert(t, qt.Equals(mustDigest(t, got).String(), string(img.Manifest.Digest)))
		cfg, err := got.RawConfigFile()
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, cfg, img.BlobContent[img.Blobs[0].Digest])
		layers, err := got.Layers()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(layers, len(img.Blobs)-1))
		for i, l := range layers {
			want := img.Blobs[i+1]
			qt.Assert(t, qt.Equals(mustDigest(t, l).String(), string(want.Digest)))
			assertSameBytes(t, ggcrLayerBytes(t, l), img.BlobContent[want.Digest])
		}
	})
	t.Run("Index", func(t *testing.T) {
		got, err := remote.Index(ggcrTag(t, host, "ours/idx:v1"), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(mustRaw(t, got), idx.Content))
		im, err := got.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, len(idx.Children)))
		for i, child := range idx.Children {
			ci, err := got.Image(im.Manifests[i].Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.DeepEquals(mustRaw(t, ci), child.Content))
		}
	})
	t.Run("Tags", func(t *testing.T) {
		tags, err := remote.List(ggcrRepo(t, host, "ours/img"), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(tags, []string{"v1"}))
	})
}

// TestGGCRServerTheirPushOurPull pushes with ggcr's client and reads the
// same content with ociclient, through ggcr's registry.
func TestGGCRServerTheirPushOurPull(t *testing.T) {
	c, host := newGGCRClient(t)
	img, err := random.Image(3000, 2)
	qt.Assert(t, qt.IsNil(err))
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "theirs/img:v1"), img, ggcrOpts(t, nil)...)))
	idx, err := random.Index(1000, 1, 2)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(remote.WriteIndex(ggcrTag(t, host, "theirs/idx:v1"), idx, ggcrOpts(t, nil)...)))
	ctx := t.Context()

	t.Run("Image", func(t *testing.T) {
		raw := mustRaw(t, img)
		desc, err := c.ResolveTag(ctx, "theirs/img", "v1")
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(string(desc.Digest), mustDigest(t, img).String()))
		qt.Assert(t, qt.Equals(desc.Size, int64(len(raw))))
		qt.Assert(t, qt.Equals(desc.MediaType, ocispec.MediaTypeImageManifest))
		assertSameBytes(t, readAll(t, func() (ociregistry.BlobReader, error) {
			return c.GetTag(ctx, "theirs/img", "v1")
		}), raw)

		cfgName, err := img.ConfigName()
		qt.Assert(t, qt.IsNil(err))
		cfg, err := img.RawConfigFile()
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, readAll(t, func() (ociregistry.BlobReader, error) {
			return c.GetBlob(ctx, "theirs/img", ociregistry.Digest(cfgName.String()))
		}), cfg)
		layers, err := img.Layers()
		qt.Assert(t, qt.IsNil(err))
		for _, l := range layers {
			dig := ociregistry.Digest(mustDigest(t, l).String())
			want := ggcrLayerBytes(t, l)
			desc, err := c.ResolveBlob(ctx, "theirs/img", dig)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Size, int64(len(want))))
			assertSameBytes(t, readAll(t, func() (ociregistry.BlobReader, error) {
				return c.GetBlob(ctx, "theirs/img", dig)
			}), want)
		}
	})
	t.Run("Index", func(t *testing.T) {
		assertSameBytes(t, readAll(t, func() (ociregistry.BlobReader, error) {
			return c.GetTag(ctx, "theirs/idx", "v1")
		}), mustRaw(t, idx))
		im, err := idx.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		for _, d := range im.Manifests {
			child, err := idx.Image(d.Digest)
			qt.Assert(t, qt.IsNil(err))
			assertSameBytes(t, readAll(t, func() (ociregistry.BlobReader, error) {
				return c.GetManifest(ctx, "theirs/idx", ociregistry.Digest(d.Digest.String()))
			}), mustRaw(t, child))
		}
	})
	t.Run("Tags", func(t *testing.T) {
		tags, err := ociregistry.All(c.Tags(ctx, "theirs/img", ""))
		qt.Assert(t, qt.IsNil(err))
		// ggcr lists the tag and hides the manifest's digest key.
		qt.Assert(t, qt.DeepEquals(tags, []string{"v1"}))
	})
}

// TestGGCRServerReferrersFallback checks ociclient's tag-schema fallback
// against ggcr's registry without the referrers API, from both sides:
// ociclient must keep the sha256-<hex> index up to date when it pushes an
// artifact, and ggcr's client, which falls back to the same tag, must see
// what ociclient pushed.
func TestGGCRServerReferrersFallback(t *testing.T) {
	c, host := newGGCRClient(t)
	ctx := t.Context()
	subject := ocitest.PushRandomImage(t, c, "ref/img", "v1")
	sig := ocitest.PushRandomArtifact(t, c, "ref/img", subject.Manifest, "application/vnd.example.sig")
	sbom := ocitest.PushRandomArtifact(t, c, "ref/img", subject.Manifest, "application/vnd.example.sbom")
	want := []ociregistry.Descriptor{sig.Manifest, sbom.Manifest}
	slices.SortFunc(want, func(a, b ociregistry.Descriptor) int {
		return strings.Compare(string(a.Digest), string(b.Digest))
	})

	// The registry holds the fallback tag, an index listing both.
	fallbackTag := strings.Replace(string(subject.Manifest.Digest), ":", "-", 1)
	tagged, err := remote.Index(ggcrTag(t, host, "ref/img:"+fallbackTag), ggcrOpts(t, nil)...)
	qt.Assert(t, qt.IsNil(err))
	im, err := tagged.IndexManifest()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(len(im.Manifests), 2))
	for _, d := range im.Manifests {
		qt.Assert(t, qt.IsTrue(slices.ContainsFunc(want, func(w ociregistry.Descriptor) bool {
			return string(w.Digest) == d.Digest.String() && w.ArtifactType == d.ArtifactType
		})), qt.Commentf("fallback index entry %v", d))
	}

	t.Run("Ours", func(t *testing.T) {
		got, err := ociregistry.All(c.Referrers(ctx, "ref/img", subject.Manifest.Digest, ""))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(got, 2))
		for i := range got {
			qt.Assert(t, qt.Equals(got[i].Digest, want[i].Digest))
			qt.Assert(t, qt.Equals(got[i].ArtifactType, want[i].ArtifactType))
		}
		got, err = ociregistry.All(c.Referrers(ctx, "ref/img", subject.Manifest.Digest, "application/vnd.example.sbom"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(got, 1))
		qt.Assert(t, qt.Equals(got[0].Digest, sbom.Manifest.Digest))
	})
	t.Run("Theirs", func(t *testing.T) {
		d, err := name.NewDigest(host+"/ref/img@"+string(subject.Manifest.Digest), name.Insecure)
		qt.Assert(t, qt.IsNil(err))
		idx, err := remote.Referrers(d, ggcrOpts(t, nil, remote.WithFilter("artifactType", "application/vnd.example.sig"))...)
		qt.Assert(t, qt.IsNil(err))
		im, err := idx.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, 1))
		qt.Assert(t, qt.Equals(im.Manifests[0].Digest.String(), string(sig.Manifest.Digest)))
	})
}

// TestGGCRServerReferrersAPI checks ociclient against ggcr's referrers
// API. ggcr reports config.mediaType as a referrer's artifactType even
// when the manifest has an artifactType field (the spec says to use the
// field first), so the artifacts here have the empty config's media type
// as artifactType and only digests are compared for those that do not.
func TestGGCRServerReferrersAPI(t *testing.T) {
	c, _ := newGGCRClient(t, registry.WithReferrersSupport(true))
	ctx := t.Context()
	subject := ocitest.PushRandomImage(t, c, "ref/img", "v1")
	a := ocitest.PushRandomArtifact(t, c, "ref/img", subject.Manifest, ocispec.MediaTypeEmptyJSON)
	b := ocitest.PushRandomArtifact(t, c, "ref/img", subject.Manifest, "application/vnd.example.sig")
	other := ocitest.PushRandomImage(t, c, "ref/img", "v2")

	got, err := ociregistry.All(c.Referrers(ctx, "ref/img", subject.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	var digests []string
	for _, d := range got {
		digests = append(digests, string(d.Digest))
		qt.Assert(t, qt.Equals(d.MediaType, ocispec.MediaTypeImageManifest))
	}
	want := []string{string(a.Manifest.Digest), string(b.Manifest.Digest)}
	slices.Sort(want)
	qt.Assert(t, qt.DeepEquals(digests, want))
	i := slices.Index(digests, string(a.Manifest.Digest))
	qt.Assert(t, qt.DeepEquals(got[i], a.Manifest))

	// ggcr does not filter (it sends no OCI-Filters-Applied), so the
	// filter applied is ours, on ggcr's artifactType.
	got, err = ociregistry.All(c.Referrers(ctx, "ref/img", subject.Manifest.Digest, ocispec.MediaTypeEmptyJSON))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(got, 2))

	got, err = ociregistry.All(c.Referrers(ctx, "ref/img", other.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(got, 0))
}

// TestGGCRServerBlobRange checks GetBlobRange against ggcr's registry,
// which serves closed ranges inside the blob but answers 416 to an
// open-ended range (bytes=10-) and to one whose end is past the blob
// (bytes=90-999), both valid HTTP. Our client must still return the
// bytes, which it cuts out of the whole blob after the 416.
func TestGGCRServerBlobRange(t *testing.T) {
	c, _ := newGGCRClient(t)
	data := pseudoRandom("range", 100)
	desc := ocitest.PushBlob(t, c, "range/blob", data)
	tests := []struct {
		name             string
		offset0, offset1 int64
		want             []byte
	}{
		{name: "Middle", offset0: 10, offset1: 20, want: data[10:20]},
		{name: "Start", offset0: 0, offset1: 1, want: data[:1]},
		{name: "Whole", offset0: 0, offset1: 100, want: data},
		{name: "Empty", offset0: 100, offset1: 100, want: []byte{}},
		{name: "ToEnd", offset0: 10, offset1: -1, want: data[10:]},
		{name: "PastEnd", offset0: 90, offset1: 1000, want: data[90:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := c.GetBlobRange(t.Context(), "range/blob", desc.Digest, tc.offset0, tc.offset1)
			qt.Assert(t, qt.IsNil(err))
			defer rd.Close()
			got, err := io.ReadAll(rd)
			qt.Assert(t, qt.IsNil(err))
			assertSameBytes(t, got, tc.want)
			qt.Assert(t, qt.Equals(rd.Descriptor().Size, int64(len(data))))
		})
	}
}

// TestGGCRServerCatalog checks Repositories against ggcr's catalog, which
// answers one page, in map order, with only the repositories that hold a
// manifest. Our client yields only names that sort after the previous
// one, so it must sort the page first or lose most of it.
func TestGGCRServerCatalog(t *testing.T) {
	c, _ := newGGCRClient(t)
	all := []string{"a", "b/c", "d", "e/f/g", "h", "i", "j/k"}
	for _, repo := range all {
		ocitest.PushRandomImage(t, c, repo, "v1")
	}
	// A repository holding only blobs is not in ggcr's catalog.
	ocitest.PushBlob(t, c, "only/blobs", []byte("no manifest"))
	got, err := ociregistry.All(c.Repositories(t.Context(), ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, all))
	// ggcr ignores last, so skipping what comes before it is ours.
	got, err = ociregistry.All(c.Repositories(t.Context(), "d"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(got, all[3:]))
}
