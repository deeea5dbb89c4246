package peertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/stream"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
)

func ggcrTag(t *testing.T, host, s string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(host+"/"+s, name.Insecure)
	qt.Assert(t, qt.IsNil(err))
	return tag
}

func ggcrRepo(t *testing.T, host, s string) name.Repository {
	t.Helper()
	repo, err := name.NewRepository(host+"/"+s, name.Insecure)
	qt.Assert(t, qt.IsNil(err))
	return repo
}

// ggcrOpts returns options that make ggcr fail fast rather than retry,
// send its requests through rec when it is not nil, and stop with t.
func ggcrOpts(t *testing.T, rec *recorder, opts ...remote.Option) []remote.Option {
	var rt http.RoundTripper = http.DefaultTransport
	if rec != nil {
		rt = rec
	}
	return append([]remote.Option{
		remote.WithContext(t.Context()),
		remote.WithTransport(rt),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}, opts...)
}

func mustDigest[T interface{ Digest() (v1.Hash, error) }](t *testing.T, x T) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	qt.Assert(t, qt.IsNil(err))
	return h
}

func mustRaw[T interface{ RawManifest() ([]byte, error) }](t *testing.T, x T) []byte {
	t.Helper()
	data, err := x.RawManifest()
	qt.Assert(t, qt.IsNil(err))
	return data
}

func TestGGCRPushPull(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		rec := &recorder{}
		img, err := random.Image(2000, 3)
		qt.Assert(t, qt.IsNil(err))
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		tag := ggcrTag(t, host, "ggcr/img:v1")
		qt.Assert(t, qt.IsNil(remote.Write(tag, img, ggcrOpts(t, rec)...)))
		// ggcr uploads every blob with POST, then one PATCH with the
		// content, then PUT with the digest.
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH /v2/ggcr/img/blobs/uploads/"), 4), qt.Commentf("%q", reqs))

		// HEAD and GET agree with what was pushed.
		imgDigest := mustDigest(t, img)
		head, err := remote.Head(tag, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(head.Digest, imgDigest))
		qt.Assert(t, qt.Equals(head.MediaType, types.OCIManifestSchema1))
		qt.Assert(t, qt.Equals(head.Size, int64(len(mustRaw(t, img)))))
		got, err := remote.Get(tag, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, got.Manifest, mustRaw(t, img))
		assertSameBytes(t, backendManifest(t, backend, "ggcr/img", digest.Digest(imgDigest.String())), mustRaw(t, img))

		// Pull by digest and compare every blob's bytes.
		pulled, err := remote.Image(tag.Context().Digest(imgDigest.String()), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		rawCfg, err := pulled.RawConfigFile()
		qt.Assert(t, qt.IsNil(err))
		wantCfg, err := img.RawConfigFile()
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, rawCfg, wantCfg)
		wantLayers, err := img.Layers()
		qt.Assert(t, qt.IsNil(err))
		gotLayers, err := pulled.Layers()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(gotLayers, len(wantLayers)))
		for i := range wantLayers {
			assertSameBytes(t, ggcrLayerBytes(t, gotLayers[i]), ggcrLayerBytes(t, wantLayers[i]))
		}

		// An index and its images.
		idx, err := random.Index(500, 2, 3)
		qt.Assert(t, qt.IsNil(err))
		idxTag := ggcrTag(t, host, "ggcr/idx:multi")
		qt.Assert(t, qt.IsNil(remote.WriteIndex(idxTag, idx, ggcrOpts(t, nil)...)))
		desc, err := remote.Get(idxTag, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.MediaType, types.OCIImageIndex))
		qt.Assert(t, qt.Equals(desc.Digest, mustDigest(t, idx)))
		pulledIdx, err := desc.ImageIndex()
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, mustRaw(t, pulledIdx), mustRaw(t, idx))
		im, err := idx.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, 3))
		for _, m := range im.Manifests {
			// random.Index makes Docker schema 2 images, so this
			// also checks that the server keeps their media type.
			childDesc, err := remote.Head(idxTag.Context().Digest(m.Digest.String()), ggcrOpts(t, nil)...)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(childDesc.MediaType, types.DockerManifestSchema2))
			qt.Assert(t, qt.Equals(childDesc.MediaType, m.MediaType))
			child, err := pulledIdx.Image(m.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(mustDigest(t, child), m.Digest))
			ls, err := child.Layers()
			qt.Assert(t, qt.IsNil(err))
			for _, l := range ls {
				ggcrLayerBytes(t, l) // verifies the digest as it reads
			}
		}
	})
}

func ggcrLayerBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	qt.Assert(t, qt.IsNil(err))
	defer rc.Close()
	data, err := io.ReadAll(rc)
	qt.Assert(t, qt.IsNil(err))
	return data
}

func TestGGCRStreamingLayer(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		rec := &recorder{}
		data := pseudoRandom("ggcrstream", 200_000)
		// A streaming layer's digest is not known until it has been
		// read, so ggcr cannot use a monolithic upload.
		layer := stream.NewLayer(io.NopCloser(bytes.NewReader(data)))
		repo := ggcrRepo(t, host, "ggcr/stream")
		qt.Assert(t, qt.IsNil(remote.WriteLayer(repo, layer, ggcrOpts(t, rec)...)))
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "POST /v2/ggcr/stream/blobs/uploads/"), 1), qt.Commentf("%q", reqs))
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH /v2/ggcr/stream/blobs/uploads/"), 1), qt.Commentf("%q", reqs))
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PUT /v2/ggcr/stream/blobs/uploads/"), 1), qt.Commentf("%q", reqs))

		h := mustDigest(t, layer)
		size, err := layer.Size()
		qt.Assert(t, qt.IsNil(err))
		desc, err := backend.ResolveBlob(t.Context(), "ggcr/stream", digest.Digest(h.String()))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Size, size))

		// Reading it back through ggcr gives the same compressed bytes,
		// which uncompress to the original data.
		pulled, err := remote.Layer(repo.Digest(h.String()), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		compressed := ggcrLayerBytes(t, pulled)
		qt.Assert(t, qt.Equals(int64(len(compressed)), size))
		assertSameBytes(t, compressed, backendBlob(t, backend, "ggcr/stream", digest.Digest(h.String())))
		rc, err := pulled.Uncompressed()
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(rc)
		rc.Close()
		qt.Assert(t, qt.IsNil(err))
		assertSameBytes(t, got, data)
	})
}

func TestGGCRMount(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		img, err := random.Image(3000, 2)
		qt.Assert(t, qt.IsNil(err))
		src := ggcrTag(t, host, "ggcr/src:v1")
		qt.Assert(t, qt.IsNil(remote.Write(src, img, ggcrOpts(t, nil)...)))

		// An explicitly mountable layer.
		layers, err := img.Layers()
		qt.Assert(t, qt.IsNil(err))
		rec := &recorder{}
		dst := ggcrRepo(t, host, "ggcr/dst")
		ml := &remote.MountableLayer{Layer: layers[0], Reference: src}
		qt.Assert(t, qt.IsNil(remote.WriteLayer(dst, ml, ggcrOpts(t, rec)...)))
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "POST /v2/ggcr/dst/blobs/uploads/?from=ggcr%2Fsrc&mount="), 1), qt.Commentf("%q", reqs))
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH "), 0), qt.Commentf("%q", reqs))
		h := mustDigest(t, layers[0])
		assertSameBytes(t, backendBlob(t, backend, "ggcr/dst", digest.Digest(h.String())), ggcrLayerBytes(t, layers[0]))

		// Copying an image pulled from one repository to another
		// mounts its blobs rather than uploading them.
		pulled, err := remote.Image(src, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "ggcr/copy:v1"), pulled, ggcrOpts(t, rec)...)))
		reqs = rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH "), 0), qt.Commentf("%q", reqs))
		qt.Assert(t, qt.Equals(countPrefix(reqs, "POST /v2/ggcr/copy/blobs/uploads/?from=ggcr%2Fsrc&mount="), 3), qt.Commentf("%q", reqs))
		got, err := remote.Image(ggcrTag(t, host, "ggcr/copy:v1"), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(mustDigest(t, got), mustDigest(t, img)))
	})
}

func TestGGCRListAndCatalog(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		img, err := random.Image(100, 1)
		qt.Assert(t, qt.IsNil(err))
		want := []string{"a", "b", "c", "d", "e"}
		for _, tag := range want {
			qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "ggcr/list:"+tag), img, ggcrOpts(t, nil)...)))
		}
		rec := &recorder{}
		tags, err := remote.List(ggcrRepo(t, host, "ggcr/list"), ggcrOpts(t, rec, remote.WithPageSize(2))...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(tags, want))
		// The pages were followed through Link headers.
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "GET /v2/ggcr/list/tags/list?"), 3), qt.Commentf("%q", reqs))

		qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "ggcr/other:x"), img, ggcrOpts(t, nil)...)))
		qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "aaa:x"), img, ggcrOpts(t, nil)...)))
		reg, err := name.NewRegistry(host, name.Insecure)
		qt.Assert(t, qt.IsNil(err))
		page, err := remote.CatalogPage(reg, "", 2, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(page, []string{"aaa", "ggcr/list"}))
		page, err = remote.CatalogPage(reg, "ggcr/list", 2, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(page, []string{"ggcr/other"}))
		all, err := remote.Catalog(t.Context(), reg, ggcrOpts(t, nil, remote.WithPageSize(1))...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(all, []string{"aaa", "ggcr/list", "ggcr/other"}))
	})
}

// rawManifest is a manifest ggcr pushes as it is.
type rawManifest struct {
	data      []byte
	mediaType types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.data, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mediaType, nil }

func TestGGCRReferrers(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		img, err := random.Image(100, 1)
		qt.Assert(t, qt.IsNil(err))
		tag := ggcrTag(t, host, "ggcr/refs:v1")
		qt.Assert(t, qt.IsNil(remote.Write(tag, img, ggcrOpts(t, nil)...)))
		subjectDesc, err := remote.Head(tag, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))

		// An old-style artifact with no artifactType: the referrers
		// API reports its config's media type instead.
		sig := mutate.ConfigMediaType(empty.Image, "application/vnd.example.sig.config")
		sig = mutate.MediaType(sig, types.OCIManifestSchema1)
		sigRef := mutate.Subject(sig, *subjectDesc).(v1.Image)
		repo := tag.Context()
		qt.Assert(t, qt.IsNil(remote.Write(repo.Tag("sig"), sigRef, ggcrOpts(t, nil)...)))

		// A new-style artifact with an artifactType, pushed as raw bytes.
		subject := ociregistry.Descriptor{
			MediaType: string(subjectDesc.MediaType),
			Digest:    digest.Digest(subjectDesc.Digest.String()),
			Size:      subjectDesc.Size,
		}
		sbom, blobs := newArtifact("ggcrsbom", subject, "application/vnd.example.sbom")
		for _, b := range blobs {
			qt.Assert(t, qt.IsNil(remote.WriteLayer(repo, static.NewLayer(b.Data, types.MediaType(b.Desc.MediaType)), ggcrOpts(t, nil)...)))
		}
		qt.Assert(t, qt.IsNil(remote.Put(repo.Digest(string(sbom.Desc.Digest)), rawManifest{sbom.Data, types.OCIManifestSchema1}, ggcrOpts(t, nil)...)))

		subjectRef := repo.Digest(subjectDesc.Digest.String())
		idx, err := remote.Referrers(subjectRef, ggcrOpts(t, nil, remote.WithReferrersTagFallback(false))...)
		qt.Assert(t, qt.IsNil(err))
		im, err := idx.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, 2))
		byType := map[string]v1.Descriptor{}
		for _, d := range im.Manifests {
			byType[d.ArtifactType] = d
		}
		qt.Assert(t, qt.Equals(byType["application/vnd.example.sig.config"].Digest, mustDigest(t, sigRef)))
		qt.Assert(t, qt.Equals(byType["application/vnd.example.sbom"].Digest.String(), string(sbom.Desc.Digest)))
		qt.Assert(t, qt.Equals(byType["application/vnd.example.sbom"].Size, sbom.Desc.Size))
		qt.Assert(t, qt.Equals(byType["application/vnd.example.sbom"].Annotations["seed"], "ggcrsbom"))

		filtered, err := remote.Referrers(subjectRef, ggcrOpts(t, nil, remote.WithFilter("artifactType", "application/vnd.example.sbom"))...)
		qt.Assert(t, qt.IsNil(err))
		im, err = filtered.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, 1))
		qt.Assert(t, qt.Equals(im.Manifests[0].ArtifactType, "application/vnd.example.sbom"))

		// The server supports the referrers API, so ggcr made no
		// fallback tag.
		tags, err := remote.List(repo, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(tags, []string{"sig", "v1"}))

		// Something nothing refers to has no referrers.
		idx, err = remote.Referrers(repo.Digest(string(sbom.Desc.Digest)), ggcrOpts(t, nil, remote.WithReferrersTagFallback(false))...)
		qt.Assert(t, qt.IsNil(err))
		im, err = idx.IndexManifest()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(im.Manifests, 0))
	})
}

func TestGGCRDelete(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		img, err := random.Image(100, 1)
		qt.Assert(t, qt.IsNil(err))
		tag := ggcrTag(t, host, "ggcr/del:v1")
		qt.Assert(t, qt.IsNil(remote.Write(tag, img, ggcrOpts(t, nil)...)))
		dig := tag.Context().Digest(mustDigest(t, img).String())

		// Deleting the tag leaves the manifest.
		qt.Assert(t, qt.IsNil(remote.Delete(tag, ggcrOpts(t, nil)...)))
		_, err = remote.Head(tag, ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, "")
		_, err = remote.Head(dig, ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))

		qt.Assert(t, qt.IsNil(remote.Delete(dig, ggcrOpts(t, nil)...)))
		_, err = remote.Get(dig, ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, transport.ManifestUnknownErrorCode)
		err = remote.Delete(dig, ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, transport.ManifestUnknownErrorCode)
	})
}

func TestGGCRErrors(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		img, err := random.Image(100, 1)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(remote.Write(ggcrTag(t, host, "ggcr/errs:v1"), img, ggcrOpts(t, nil)...)))

		_, err = remote.Get(ggcrTag(t, host, "ggcr/errs:nosuchtag"), ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, transport.ManifestUnknownErrorCode)

		// A repository that does not exist.
		_, err = remote.Get(ggcrTag(t, host, "ggcr/nosuchrepo:v1"), ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, "")
		_, err = remote.List(ggcrRepo(t, host, "ggcr/nosuchrepo"), ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusNotFound, transport.NameUnknownErrorCode)

		// A missing blob.
		missing := v1.Hash{Algorithm: "sha256", Hex: digest.FromString("missing").Encoded()}
		l, err := remote.Layer(ggcrRepo(t, host, "ggcr/errs").Digest(missing.String()), ggcrOpts(t, nil)...)
		qt.Assert(t, qt.IsNil(err))
		_, err = l.Compressed()
		assertGGCRStatus(t, err, http.StatusNotFound, "")

		// A manifest whose layer was never pushed.
		other, err := random.Image(100, 1)
		qt.Assert(t, qt.IsNil(err))
		err = remote.Put(ggcrTag(t, host, "ggcr/errs:bad"), other, ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusBadRequest, transport.ManifestBlobUnknownErrorCode)

		// A manifest that does not parse as one. (ggcr itself refuses
		// to send what is not JSON.)
		bad := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x"},"layers":"nope"}`
		err = remote.Put(ggcrTag(t, host, "ggcr/errs:bad"), rawManifest{[]byte(bad), types.OCIManifestSchema1}, ggcrOpts(t, nil)...)
		assertGGCRStatus(t, err, http.StatusBadRequest, transport.ManifestInvalidErrorCode)
	})
}

// assertGGCRStatus checks that err is a ggcr transport error with the
// given status and, when code is not empty, that code.
func assertGGCRStatus(t *testing.T, err error, status int, code transport.ErrorCode) {
	t.Helper()
	var terr *transport.Error
	if !errors.As(err, &terr) {
		t.Fatalf("got error %v (%T), want *transport.Error", err, err)
	}
	qt.Assert(t, qt.Equals(terr.StatusCode, status), qt.Commentf("%v", err))
	if code == "" {
		return
	}
	codes := make([]transport.ErrorCode, len(terr.Errors))
	for i, d := range terr.Errors {
		codes[i] = d.Code
	}
	qt.Assert(t, qt.IsTrue(slices.Contains(codes, code)), qt.Commentf("got codes %v, want %v", codes, code))
}
