package ocitest

import (
	"bytes"
	"errors"
	"io"
	"iter"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

// readAll reads the content of rd and closes it.
func readAll(t testing.TB, rd ociregistry.BlobReader) []byte {
	t.Helper()
	defer rd.Close()
	data, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// assertBytes checks that got equals want. It compares with bytes.Equal
// because qt.DeepEquals walks large slices a byte at a time.
func assertBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		if len(got) < 200 && len(want) < 200 {
			t.Fatalf("got content %q, want %q", got, want)
		}
		t.Fatalf("got %d bytes of content (sha256 %s), want %d bytes (sha256 %s)", len(got), Digest(got), len(want), Digest(want))
	}
}

// assertErrorIs checks that err is one of targets. Several targets are
// given where the Interface allows either answer, such as ErrBlobUnknown
// or ErrNameUnknown for a repository that does not exist.
func assertErrorIs(t testing.TB, err error, targets ...error) {
	t.Helper()
	for _, target := range targets {
		if errors.Is(err, target) {
			return
		}
	}
	if len(targets) == 1 {
		qt.Assert(t, qt.ErrorIs(err, targets[0]))
	}
	t.Fatalf("got error %v, want one that Is one of %v", err, targets)
}

// assertBlob checks that repo holds the blob dig with the given content,
// through GetBlob and ResolveBlob.
func assertBlob(t testing.TB, r ociregistry.Interface, repo string, dig ociregistry.Digest, data []byte) {
	t.Helper()
	rd, err := r.GetBlob(t.Context(), repo, dig)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("GetBlob %s %s", repo, dig))
	desc := rd.Descriptor()
	got := readAll(t, rd)
	qt.Assert(t, qt.Equals(desc.Digest, dig))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	assertBytes(t, got, data)

	desc, err = r.ResolveBlob(t.Context(), repo, dig)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("ResolveBlob %s %s", repo, dig))
	qt.Assert(t, qt.Equals(desc.Digest, dig))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
}

// assertNoBlob checks that repo, which must exist, does not hold the blob
// dig.
func assertNoBlob(t testing.TB, r ociregistry.Interface, repo string, dig ociregistry.Digest) {
	t.Helper()
	_, err := r.GetBlob(t.Context(), repo, dig)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown)
	_, err = r.ResolveBlob(t.Context(), repo, dig)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown)
}

// assertManifest checks that repo holds the manifest desc with the given
// content, through GetManifest and ResolveManifest and, when tag is not
// empty, through GetTag and ResolveTag.
func assertManifest(t testing.TB, r ociregistry.Interface, repo, tag string, desc ociregistry.Descriptor, content []byte) {
	t.Helper()
	check := func(method string, got ociregistry.Descriptor) {
		t.Helper()
		qt.Assert(t, qt.Equals(got.Digest, desc.Digest), qt.Commentf("%s", method))
		qt.Assert(t, qt.Equals(got.Size, desc.Size), qt.Commentf("%s", method))
		qt.Assert(t, qt.Equals(got.MediaType, desc.MediaType), qt.Commentf("%s", method))
	}
	rd, err := r.GetManifest(t.Context(), repo, desc.Digest)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("GetManifest %s %s", repo, desc.Digest))
	check("GetManifest", rd.Descriptor())
	assertBytes(t, readAll(t, rd), content)

	got, err := r.ResolveManifest(t.Context(), repo, desc.Digest)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("ResolveManifest %s %s", repo, desc.Digest))
	check("ResolveManifest", got)

	if tag == "" {
		return
	}
	rd, err = r.GetTag(t.Context(), repo, tag)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("GetTag %s %s", repo, tag))
	check("GetTag", rd.Descriptor())
	assertBytes(t, readAll(t, rd), content)

	got, err = r.ResolveTag(t.Context(), repo, tag)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("ResolveTag %s %s", repo, tag))
	check("ResolveTag", got)
}

// assertNoManifest checks that repo, which must exist, does not hold the
// manifest dig.
func assertNoManifest(t testing.TB, r ociregistry.Interface, repo string, dig ociregistry.Digest) {
	t.Helper()
	_, err := r.GetManifest(t.Context(), repo, dig)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown)
	_, err = r.ResolveManifest(t.Context(), repo, dig)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown)
}

// assertNoTag checks that repo, which must exist, has no tag named tag.
func assertNoTag(t testing.TB, r ociregistry.Interface, repo, tag string) {
	t.Helper()
	_, err := r.GetTag(t.Context(), repo, tag)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown)
	_, err = r.ResolveTag(t.Context(), repo, tag)
	assertErrorIs(t, err, ociregistry.ErrManifestUnknown)
}

// collect gathers the values of seq, failing t on an error.
func collect[T any](t testing.TB, seq iter.Seq2[T, error]) []T {
	t.Helper()
	xs, err := ociregistry.All(seq)
	qt.Assert(t, qt.IsNil(err))
	return xs
}
