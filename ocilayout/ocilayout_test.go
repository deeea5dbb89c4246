package ocilayout_test

import (
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocilayout"
	"github.com/ocireg/ociregistry/ocitest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestImageRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "layout")
	l, err := ocilayout.Create(dir)
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, l, "ignored", "v1")

	// A fresh Open sees what was written, by tag and by digest.
	l2, err := ocilayout.Open(dir)
	qt.Assert(t, qt.IsNil(err))
	r, err := l2.GetTag(ctx, "other", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(readAll(t, r), img.Content))
	qt.Check(t, qt.Equals(r.Descriptor().MediaType, ocispec.MediaTypeImageManifest))
	qt.Check(t, qt.Equals(r.Descriptor().Digest, img.Manifest.Digest))
	desc, err := l2.ResolveManifest(ctx, "", img.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Size, int64(len(img.Content))))
	for d, data := range img.BlobContent {
		r, err := l2.GetBlob(ctx, "", d)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.DeepEquals(readAll(t, r), data))
		desc, err := l2.ResolveBlob(ctx, "", d)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(desc.Size, int64(len(data))))
	}

	// The layout is what the image specification says.
	layoutFile, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.JSONEquals(layoutFile, map[string]string{"imageLayoutVersion": "1.0.0"}))
	idx := readIndex(t, dir)
	qt.Assert(t, qt.HasLen(idx.Manifests, 1))
	qt.Check(t, qt.Equals(idx.Manifests[0].Digest, img.Manifest.Digest))
	qt.Check(t, qt.Equals(idx.Manifests[0].Annotations[ocispec.AnnotationRefName], "v1"))
	onDisk, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", img.Manifest.Digest.Encoded()))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(onDisk, img.Content))
}

func TestIndexKeepsOnlyTopLevelEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	l, err := ocilayout.Create(dir)
	qt.Assert(t, qt.IsNil(err))
	idx := ocitest.PushRandomIndex(t, l, "", "multi")
	art := ocitest.PushRandomArtifact(t, l, "", idx.Manifest, "application/x-sig")

	// The children were pushed untagged before the index; once the
	// index refers to them, their entries go. The referrer stays.
	entries := readIndex(t, dir).Manifests
	qt.Assert(t, qt.HasLen(entries, 2))
	qt.Check(t, qt.Equals(entries[0].Digest, idx.Manifest.Digest))
	qt.Check(t, qt.Equals(entries[0].MediaType, ocispec.MediaTypeImageIndex))
	qt.Check(t, qt.Equals(entries[1].Digest, art.Manifest.Digest))
	qt.Check(t, qt.HasLen(entries[1].Annotations, 0))

	for _, child := range idx.Children {
		r, err := l.GetManifest(ctx, "", child.Manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.DeepEquals(readAll(t, r), child.Content))
		// No entry: the media type comes from the content.
		qt.Check(t, qt.Equals(r.Descriptor().MediaType, ocispec.MediaTypeImageManifest))
	}

	refs, err := ociregistry.All(l.Referrers(ctx, "", idx.Manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Check(t, qt.Equals(refs[0].Digest, art.Manifest.Digest))
	qt.Check(t, qt.Equals(refs[0].ArtifactType, "application/x-sig"))
	refs, err = ociregistry.All(l.Referrers(ctx, "", idx.Manifest.Digest, "application/other"))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.HasLen(refs, 0))
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	l, err := ocilayout.Create(t.TempDir())
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, l, "", "b")
	for _, tag := range []string{"c", "a"} {
		_, err := l.PushManifest(ctx, "", tag, img.Content, ocispec.MediaTypeImageManifest)
		qt.Assert(t, qt.IsNil(err))
	}
	tags, err := ociregistry.All(l.Tags(ctx, "", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(tags, []string{"a", "b", "c"}))
	tags, err = ociregistry.All(l.Tags(ctx, "", "a"))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(tags, []string{"b", "c"}))

	// Moving a tag replaces its entry.
	other := ocitest.PushRandomImage(t, l, "", "a")
	desc, err := l.ResolveTag(ctx, "", "a")
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(desc.Digest, other.Manifest.Digest))

	qt.Assert(t, qt.IsNil(l.DeleteTag(ctx, "", "b")))
	tags, err = ociregistry.All(l.Tags(ctx, "", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(tags, []string{"a", "c"}))
	// The manifest stays, by digest.
	_, err = l.ResolveManifest(ctx, "", img.Manifest.Digest)
	qt.Check(t, qt.IsNil(err))
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	l, err := ocilayout.Create(t.TempDir())
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, l, "", "v1")
	missing := ocitest.Digest([]byte("missing"))
	layer := img.Blobs[1].Digest
	badManifest := strings.Replace(string(img.Content), string(img.Blobs[0].Digest), string(missing), 1)

	tests := []struct {
		name string
		do   func() error
		want error
	}{{
		name: "GetBlobMissing",
		do:   func() error { _, err := l.GetBlob(ctx, "", missing); return err },
		want: ociregistry.ErrBlobUnknown,
	}, {
		name: "ResolveBlobBadDigest",
		do:   func() error { _, err := l.ResolveBlob(ctx, "", "sha256:zz"); return err },
		want: ociregistry.ErrDigestInvalid,
	}, {
		name: "GetManifestMissing",
		do:   func() error { _, err := l.GetManifest(ctx, "", missing); return err },
		want: ociregistry.ErrManifestUnknown,
	}, {
		name: "GetManifestOfLayer",
		do:   func() error { _, err := l.GetManifest(ctx, "", layer); return err },
		want: ociregistry.ErrManifestUnknown,
	}, {
		name: "GetTagMissing",
		do:   func() error { _, err := l.GetTag(ctx, "", "nope"); return err },
		want: ociregistry.ErrManifestUnknown,
	}, {
		name: "PushBlobWrongDigest",
		do: func() error {
			_, err := l.PushBlob(ctx, "", ociregistry.Descriptor{Digest: missing, Size: 3}, strings.NewReader("abc"))
			return err
		},
		want: ociregistry.ErrDigestInvalid,
	}, {
		name: "PushBlobTooLong",
		do: func() error {
			_, err := l.PushBlob(ctx, "", ociregistry.Descriptor{Digest: ocitest.Digest([]byte("ab")), Size: 2}, strings.NewReader("abc"))
			return err
		},
		want: ociregistry.ErrSizeInvalid,
	}, {
		name: "PushManifestMissingBlob",
		do: func() error {
			_, err := l.PushManifest(ctx, "", "bad", []byte(badManifest), ocispec.MediaTypeImageManifest)
			return err
		},
		want: ociregistry.ErrManifestBlobUnknown,
	}, {
		name: "PushManifestInvalid",
		do: func() error {
			_, err := l.PushManifest(ctx, "", "bad", []byte("{"), ocispec.MediaTypeImageManifest)
			return err
		},
		want: ociregistry.ErrManifestInvalid,
	}, {
		name: "DeleteTagMissing",
		do:   func() error { return l.DeleteTag(ctx, "", "nope") },
		want: ociregistry.ErrManifestUnknown,
	}, {
		name: "OpenNotALayout",
		do:   func() error { _, err := ocilayout.Open(t.TempDir()); return err },
		want: fs.ErrNotExist,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			qt.Check(t, qt.ErrorIs(test.do(), test.want))
		})
	}
	// Nothing of the failed pushes was kept.
	_, err = l.ResolveBlob(ctx, "", missing)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = l.ResolveTag(ctx, "", "bad")
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

func TestGetBlobRange(t *testing.T) {
	ctx := context.Background()
	l, err := ocilayout.Create(t.TempDir())
	qt.Assert(t, qt.IsNil(err))
	data := []byte("0123456789")
	d := ocitest.PushBlob(t, l, "", data).Digest
	r, err := l.GetBlobRange(ctx, "", d, 2, 5)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(string(readAll(t, r)), "234"))
	qt.Check(t, qt.Equals(r.Descriptor().Size, int64(10)))
	_, err = l.GetBlobRange(ctx, "", d, 11, -1)
	qt.Check(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
}

func readAll(t *testing.T, r ociregistry.BlobReader) []byte {
	t.Helper()
	defer r.Close()
	data, err := io.ReadAll(r)
	qt.Assert(t, qt.IsNil(err))
	return data
}

func readIndex(t *testing.T, dir string) ociregistry.Index {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	qt.Assert(t, qt.IsNil(err))
	var idx ociregistry.Index
	qt.Assert(t, qt.IsNil(json.Unmarshal(data, &idx)))
	return idx
}

func TestSuite(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		// A layout is one repository.
		SingleRepository: true,
		New: func(t *testing.T) ociregistry.Interface {
			l, err := ocilayout.Create(t.TempDir())
			qt.Assert(t, qt.IsNil(err))
			return l
		},
	})
}
