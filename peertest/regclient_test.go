package peertest

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/regclient/regclient"
	"github.com/regclient/regclient/config"
	"github.com/regclient/regclient/scheme"
	"github.com/regclient/regclient/scheme/reg"
	"github.com/regclient/regclient/types/descriptor"
	"github.com/regclient/regclient/types/errs"
	"github.com/regclient/regclient/types/manifest"
	"github.com/regclient/regclient/types/ref"

	"github.com/ocireg/ociregistry"
)

// regclientChunk is the chunk size regclient is told to use, and
// regclientMaxPut the size above which it uploads in chunks; both are
// small so that tests exercise chunked uploads with small blobs.
const (
	regclientChunk  = 1024
	regclientMaxPut = 2048
)

func newRegclient(t *testing.T, host string, rec *recorder) *regclient.RegClient {
	var rt http.RoundTripper = http.DefaultTransport
	if rec != nil {
		rt = rec
	}
	return regclient.New(
		regclient.WithConfigHost(config.Host{
			Name:      host,
			Hostname:  host,
			TLS:       config.TLSDisabled,
			BlobChunk: regclientChunk,
			BlobMax:   regclientMaxPut,
		}),
		regclient.WithRegOpts(
			reg.WithHTTPClient(&http.Client{Transport: rt}),
			reg.WithRetryLimit(1),
			reg.WithDelay(time.Millisecond, 10*time.Millisecond),
		),
	)
}

func rcRef(t *testing.T, host, s string) ref.Ref {
	t.Helper()
	r, err := ref.New(host + "/" + s)
	qt.Assert(t, qt.IsNil(err))
	return r
}

func rcDesc(d ocispec.Descriptor) descriptor.Descriptor {
	return descriptor.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: d.ArtifactType}
}

func rcPutManifest(t *testing.T, rc *regclient.RegClient, r ref.Ref, m object) {
	t.Helper()
	man, err := manifest.New(manifest.WithRaw(m.Data), manifest.WithDesc(rcDesc(m.Desc)))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(rc.ManifestPut(t.Context(), r, man)))
}

func rcPushImage(t *testing.T, rc *regclient.RegClient, r ref.Ref, img image) {
	t.Helper()
	for _, b := range img.blobs() {
		d, err := rc.BlobPut(t.Context(), r, rcDesc(b.Desc), bytes.NewReader(b.Data))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(d.Digest, b.Desc.Digest))
	}
	rcPutManifest(t, rc, r, img.Manifest)
}

func rcBlob(t *testing.T, rc *regclient.RegClient, r ref.Ref, d ocispec.Descriptor) []byte {
	t.Helper()
	br, err := rc.BlobGet(t.Context(), r, rcDesc(d))
	qt.Assert(t, qt.IsNil(err))
	defer br.Close()
	data, err := io.ReadAll(br)
	qt.Assert(t, qt.IsNil(err))
	return data
}

func TestRegclientPushPull(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rec := &recorder{}
		rc := newRegclient(t, host, rec)
		img1 := newImage("rc1", 2, 5000) // layers big enough to go in chunks
		img2 := newImage("rc2", 1, 100)
		rcPushImage(t, rc, rcRef(t, host, "rc/img:v1"), img1)
		rcPushImage(t, rc, rcRef(t, host, "rc/img:v2"), img2)
		idx := newIndex(img1.Manifest, img2.Manifest)
		rcPutManifest(t, rc, rcRef(t, host, "rc/img:multi"), idx)

		// Each 5000-byte layer went in ceil(5000/1024) = 5 chunks;
		// the small blobs went in one PUT each.
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH /v2/rc/img/blobs/uploads/"), 2*5), qt.Commentf("%q", reqs))

		for _, m := range []struct {
			tag string
			c   object
		}{{"v1", img1.Manifest}, {"v2", img2.Manifest}, {"multi", idx}} {
			r := rcRef(t, host, "rc/img:"+m.tag)
			head, err := rc.ManifestHead(ctx, r)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(head.GetDescriptor().Digest, m.c.Desc.Digest))
			qt.Assert(t, qt.Equals(head.GetDescriptor().MediaType, m.c.Desc.MediaType))
			qt.Assert(t, qt.Equals(head.GetDescriptor().Size, m.c.Desc.Size))

			got, err := rc.ManifestGet(ctx, r)
			qt.Assert(t, qt.IsNil(err))
			raw, err := got.RawBody()
			qt.Assert(t, qt.IsNil(err))
			assertSameBytes(t, raw, m.c.Data)
			qt.Assert(t, qt.Equals(got.GetDescriptor().Digest, m.c.Desc.Digest))

			byDigest, err := rc.ManifestGet(ctx, r.SetDigest(m.c.Desc.Digest.String()))
			qt.Assert(t, qt.IsNil(err))
			raw, err = byDigest.RawBody()
			qt.Assert(t, qt.IsNil(err))
			assertSameBytes(t, raw, m.c.Data)
		}
		r := rcRef(t, host, "rc/img")
		for _, b := range append(img1.blobs(), img2.blobs()...) {
			assertSameBytes(t, rcBlob(t, rc, r, b.Desc), b.Data)
			assertSameBytes(t, backendBlob(t, backend, "rc/img", b.Desc.Digest), b.Data)
			head, err := rc.BlobHead(ctx, r, rcDesc(b.Desc))
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(head.GetDescriptor().Size, b.Desc.Size))
			head.Close()
		}

		// ImageCopy walks the index to every blob.
		qt.Assert(t, qt.IsNil(rc.ImageCopy(ctx, rcRef(t, host, "rc/img:multi"), rcRef(t, host, "rc/copy:multi"))))
		for _, b := range img1.blobs() {
			assertSameBytes(t, backendBlob(t, backend, "rc/copy", b.Desc.Digest), b.Data)
		}
	})
}

func TestRegclientChunkedUnknownDigest(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		rec := &recorder{}
		rc := newRegclient(t, host, rec)
		data := pseudoRandom("rcchunked", 3*regclientChunk+10)
		r := rcRef(t, host, "rc/chunked")
		// With no descriptor regclient cannot upload in one go, so it
		// sends chunks and works the digest out as it goes.
		d, err := rc.BlobPut(t.Context(), r, descriptor.Descriptor{}, bytes.NewReader(data))
		qt.Assert(t, qt.IsNil(err))
		want := newObject("", data).Desc
		qt.Assert(t, qt.Equals(d.Digest, want.Digest))
		qt.Assert(t, qt.Equals(d.Size, want.Size))
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH /v2/rc/chunked/blobs/uploads/"), 4), qt.Commentf("%q", reqs))
		assertSameBytes(t, backendBlob(t, backend, "rc/chunked", want.Digest), data)
	})
}

func TestRegclientTagsAndRepos(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rc := newRegclient(t, host, nil)
		img := newImage("rctags", 1, 10)
		for _, tag := range []string{"t0", "t1", "t2", "t3", "t4"} {
			rcPushImage(t, rc, rcRef(t, host, "rc/tags:"+tag), img)
		}
		r := rcRef(t, host, "rc/tags")
		tags := func(opts ...scheme.TagOpts) []string {
			tl, err := rc.TagList(ctx, r, opts...)
			qt.Assert(t, qt.IsNil(err))
			got, err := tl.GetTags()
			qt.Assert(t, qt.IsNil(err))
			return got
		}
		qt.Assert(t, qt.DeepEquals(tags(), []string{"t0", "t1", "t2", "t3", "t4"}))
		qt.Assert(t, qt.DeepEquals(tags(scheme.WithTagLimit(2)), []string{"t0", "t1"}))
		qt.Assert(t, qt.DeepEquals(tags(scheme.WithTagLimit(2), scheme.WithTagLast("t1")), []string{"t2", "t3"}))
		qt.Assert(t, qt.DeepEquals(tags(scheme.WithTagLast("t3")), []string{"t4"}))

		rcPushImage(t, rc, rcRef(t, host, "rc/other:x"), img)
		rcPushImage(t, rc, rcRef(t, host, "b:x"), img)
		repos := func(opts ...scheme.RepoOpts) []string {
			rl, err := rc.RepoList(ctx, host, opts...)
			qt.Assert(t, qt.IsNil(err))
			got, err := rl.GetRepos()
			qt.Assert(t, qt.IsNil(err))
			return got
		}
		qt.Assert(t, qt.DeepEquals(repos(), []string{"b", "rc/other", "rc/tags"}))
		qt.Assert(t, qt.DeepEquals(repos(scheme.WithRepoLimit(2)), []string{"b", "rc/other"}))
		qt.Assert(t, qt.DeepEquals(repos(scheme.WithRepoLast("b")), []string{"rc/other", "rc/tags"}))
	})
}

func TestRegclientReferrers(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rc := newRegclient(t, host, nil)
		img := newImage("rcrefs", 1, 100)
		subjectRef := rcRef(t, host, "rc/refs:v1")
		rcPushImage(t, rc, subjectRef, img)

		var pushed []object
		for _, at := range []string{"application/vnd.example.sbom", "application/vnd.example.sig", "application/vnd.example.sig"} {
			m, blobs := newArtifact("rcrefs"+at+string(rune('0'+len(pushed))), img.Manifest.Desc, at)
			r := rcRef(t, host, "rc/refs")
			for _, b := range blobs {
				_, err := rc.BlobPut(ctx, r, rcDesc(b.Desc), bytes.NewReader(b.Data))
				qt.Assert(t, qt.IsNil(err))
			}
			rcPutManifest(t, rc, r.SetDigest(m.Desc.Digest.String()), m)
			pushed = append(pushed, m)
		}
		slices.SortFunc(pushed, func(a, b object) int { return strings.Compare(string(a.Desc.Digest), string(b.Desc.Digest)) })

		rl, err := rc.ReferrerList(ctx, subjectRef)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(rl.Descriptors, 3))
		// A referrers tag would show up here; the API needs none.
		qt.Assert(t, qt.HasLen(rl.Tags, 0))
		for i, d := range rl.Descriptors {
			qt.Assert(t, qt.Equals(d.Digest, pushed[i].Desc.Digest))
			qt.Assert(t, qt.Equals(d.Size, pushed[i].Desc.Size))
			qt.Assert(t, qt.Equals(d.MediaType, ocispec.MediaTypeImageManifest))
			qt.Assert(t, qt.Not(qt.Equals(d.Annotations["seed"], "")))
		}

		rl, err = rc.ReferrerList(ctx, subjectRef, scheme.WithReferrerMatchOpt(descriptor.MatchOpt{ArtifactType: "application/vnd.example.sig"}))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(rl.Descriptors, 2))
		for _, d := range rl.Descriptors {
			qt.Assert(t, qt.Equals(d.ArtifactType, "application/vnd.example.sig"))
		}

		tl, err := rc.TagList(ctx, rcRef(t, host, "rc/refs"))
		qt.Assert(t, qt.IsNil(err))
		tags, err := tl.GetTags()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(tags, []string{"v1"}))
	})
}

func TestRegclientMount(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rec := &recorder{}
		rc := newRegclient(t, host, rec)
		b := newObject("application/octet-stream", pseudoRandom("rcmount", 4000))
		from, to := rcRef(t, host, "rc/from"), rcRef(t, host, "rc/to")
		_, err := rc.BlobPut(ctx, from, rcDesc(b.Desc), bytes.NewReader(b.Data))
		qt.Assert(t, qt.IsNil(err))
		rec.requests()

		qt.Assert(t, qt.IsNil(rc.BlobMount(ctx, from, to, rcDesc(b.Desc))))
		reqs := rec.requests()
		qt.Assert(t, qt.Equals(countPrefix(reqs, "PATCH "), 0), qt.Commentf("%q", reqs))
		assertSameBytes(t, rcBlob(t, rc, to, b.Desc), b.Data)

		// Mounting what the source does not have fails.
		missing := newObject("application/octet-stream", []byte("missing")).Desc
		err = rc.BlobMount(ctx, from, to, rcDesc(missing))
		qt.Assert(t, qt.IsNotNil(err))
		_, err = backend.ResolveBlob(ctx, "rc/to", missing.Digest)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	})
}

func TestRegclientDelete(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rec := &recorder{}
		rc := newRegclient(t, host, rec)
		img := newImage("rcdel", 1, 100)
		tagRef := rcRef(t, host, "rc/del:v1")
		rcPushImage(t, rc, tagRef, img)
		rcPutManifest(t, rc, rcRef(t, host, "rc/del:v2"), img.Manifest)
		rec.requests()

		// The server deletes tags itself, so regclient does not fall
		// back to pushing a dummy manifest over the tag and deleting it.
		qt.Assert(t, qt.IsNil(rc.TagDelete(ctx, tagRef)))
		reqs := rec.requests()
		qt.Assert(t, qt.DeepEquals(reqs, []string{"DELETE /v2/rc/del/manifests/v1"}))
		_, err := rc.ManifestHead(ctx, tagRef)
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		_, err = rc.ManifestHead(ctx, rcRef(t, host, "rc/del:v2"))
		qt.Assert(t, qt.IsNil(err))

		digRef := tagRef.SetDigest(img.Manifest.Desc.Digest.String())
		qt.Assert(t, qt.IsNil(rc.ManifestDelete(ctx, digRef)))
		_, err = rc.ManifestGet(ctx, digRef)
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		// Deleting the manifest took the tags pointing to it too.
		_, err = rc.ManifestHead(ctx, rcRef(t, host, "rc/del:v2"))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))

		r := rcRef(t, host, "rc/del")
		layer := img.Layers[0].Desc
		qt.Assert(t, qt.IsNil(rc.BlobDelete(ctx, r, rcDesc(layer))))
		_, err = rc.BlobGet(ctx, r, rcDesc(layer))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		qt.Assert(t, qt.ErrorIs(rc.BlobDelete(ctx, r, rcDesc(layer)), errs.ErrNotFound))
	})
}

func TestRegclientErrors(t *testing.T) {
	forEachStack(t, func(t *testing.T, host string, backend ociregistry.Interface) {
		ctx := t.Context()
		rc := newRegclient(t, host, nil)
		img := newImage("rcerrs", 1, 100)

		_, err := rc.ManifestGet(ctx, rcRef(t, host, "rc/errs:nosuchtag"))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		_, err = rc.ManifestHead(ctx, rcRef(t, host, "rc/errs:nosuchtag"))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		_, err = rc.BlobGet(ctx, rcRef(t, host, "rc/errs"), rcDesc(img.Config.Desc))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))
		_, err = rc.TagList(ctx, rcRef(t, host, "rc/errs"))
		qt.Assert(t, qt.ErrorIs(err, errs.ErrNotFound))

		// A manifest whose blobs were never pushed is refused.
		man, err := manifest.New(manifest.WithRaw(img.Manifest.Data), manifest.WithDesc(rcDesc(img.Manifest.Desc)))
		qt.Assert(t, qt.IsNil(err))
		err = rc.ManifestPut(ctx, rcRef(t, host, "rc/errs:v1"), man)
		qt.Assert(t, qt.IsNotNil(err))
		qt.Assert(t, qt.ErrorMatches(err, `.*MANIFEST_BLOB_UNKNOWN.*`))

		// A blob whose content does not match its digest is refused.
		bad := rcDesc(img.Config.Desc)
		_, err = rc.BlobPut(ctx, rcRef(t, host, "rc/errs"), bad, strings.NewReader(strings.Repeat("x", int(bad.Size))))
		qt.Assert(t, qt.IsNotNil(err))
		_, err = backend.ResolveBlob(ctx, "rc/errs", bad.Digest)
		qt.Assert(t, qt.IsTrue(errors.Is(err, ociregistry.ErrBlobUnknown) || errors.Is(err, ociregistry.ErrNameUnknown)))
	})
}
