package ocimem_test

import (
	"io"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

func TestGetBlob(t *testing.T) {
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			r := ocimem.New()
			desc := pushBlob(t, r, "foo/bar", alg, "hello world")

			br, err := r.GetBlob(ctx, "foo/bar", desc.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(readAll(t, br, desc), "hello world"))

			got, err := r.ResolveBlob(ctx, "foo/bar", desc.Digest)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.DeepEquals(got, desc))

			// The same content under the other algorithm is a
			// different blob, not pushed.
			other := digest.SHA256
			if alg == digest.SHA256 {
				other = digest.SHA512
			}
			_, err = r.GetBlob(ctx, "foo/bar", other.FromString("hello world"))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		})
	}
}

func TestGetBlobRange(t *testing.T) {
	const content = "0123456789"
	tests := []struct {
		name             string
		offset0, offset1 int64
		want             string
		wantErr          error
	}{
		{"Whole", 0, -1, content, nil},
		{"Middle", 2, 5, "234", nil},
		{"ToEndNegative", 7, -1, "789", nil},
		{"ToEndPastEnd", 7, 100, "789", nil},
		{"EmptyAtEnd", 10, -1, "", nil},
		{"Empty", 3, 3, "", nil},
		{"NegativeStart", -1, 5, "", ociregistry.ErrRangeInvalid},
		{"StartPastEnd", 11, -1, "", ociregistry.ErrRangeInvalid},
		{"StartAfterEnd", 5, 4, "", ociregistry.ErrRangeInvalid},
	}
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		r := ocimem.New()
		desc := pushBlob(t, r, "foo", alg, content)
		for _, test := range tests {
			t.Run(string(alg)+"/"+test.name, func(t *testing.T) {
				br, err := r.GetBlobRange(ctx, "foo", desc.Digest, test.offset0, test.offset1)
				if test.wantErr != nil {
					qt.Assert(t, qt.ErrorIs(err, test.wantErr))
					return
				}
				qt.Assert(t, qt.IsNil(err))
				// The descriptor describes the whole blob.
				qt.Assert(t, qt.Equals(readAll(t, br, desc), test.want))
			})
		}
	}
	_, err := ocimem.New().GetBlobRange(ctx, "foo", digest.FromString(content), 0, 1)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

func TestUnknownContent(t *testing.T) {
	// Whether or not the repository exists, blob operations answer
	// ErrBlobUnknown and manifest operations ErrManifestUnknown.
	for _, exists := range []bool{false, true} {
		r := ocimem.New()
		if exists {
			pushImage(t, r, "repo", "other", "x")
		}
		dig := digest.FromString("nothing")
		_, err := r.GetBlob(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		_, err = r.ResolveBlob(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		_, err = r.GetManifest(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.ResolveManifest(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.GetTag(ctx, "repo", "latest")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.ResolveTag(ctx, "repo", "latest")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		// The error says what was asked for.
		qt.Assert(t, qt.StringContains(err.Error(), `"latest"`))
		err = r.DeleteBlob(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		err = r.DeleteManifest(ctx, "repo", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		err = r.DeleteTag(ctx, "repo", "latest")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		_, err = r.MountBlob(ctx, "repo", "elsewhere", dig)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		// A blob is not a manifest, nor the other way round.
		if exists {
			desc, err := r.ResolveTag(ctx, "repo", "other")
			qt.Assert(t, qt.IsNil(err))
			_, err = r.GetBlob(ctx, "repo", desc.Digest)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
		}
	}
}

func TestBadArguments(t *testing.T) {
	r := ocimem.New()
	good := pushBlob(t, r, "repo", digest.SHA256, "x").Digest
	longRepo := strings.Repeat("a", ociregistry.MaxRepositoryLength+1)
	badDigests := []ociregistry.Digest{
		"", "sha256:short", "sha256:" + ociregistry.Digest(strings.Repeat("A", 64)),
		"md5:d41d8cd98f00b204e9800998ecf8427e",
		"sha384:" + ociregistry.Digest(strings.Repeat("a", 96)),
	}
	for _, repo := range []string{"", "Upper", "a//b", "-a", longRepo} {
		t.Run("repo="+repo[:min(len(repo), 10)], func(t *testing.T) {
			for name, err := range map[string]error{
				"GetBlob":      second(r.GetBlob(ctx, repo, good)),
				"GetBlobRange": second(r.GetBlobRange(ctx, repo, good, 0, -1)),
				"ResolveBlob":  second(r.ResolveBlob(ctx, repo, good)),
				"GetManifest":  second(r.GetManifest(ctx, repo, good)),
				"GetTag":       second(r.GetTag(ctx, repo, "latest")),
				"ResolveTag":   second(r.ResolveTag(ctx, repo, "latest")),
				"PushBlob":     second(r.PushBlob(ctx, repo, ociregistry.Descriptor{Digest: good, Size: 1}, strings.NewReader("x"))),
				"PushChunked":  second(r.PushBlobChunked(ctx, repo, 0)),
				"Resume":       second(r.PushBlobChunkedResume(ctx, repo, "id", -1, 0)),
				"MountFrom":    second(r.MountBlob(ctx, repo, "repo", good)),
				"MountTo":      second(r.MountBlob(ctx, "repo", repo, good)),
				"PushManifest": second(r.PushManifest(ctx, repo, "", []byte("{}"), "application/x")),
				"DeleteBlob":   r.DeleteBlob(ctx, repo, good),
				"DeleteMan":    r.DeleteManifest(ctx, repo, good),
				"DeleteTag":    r.DeleteTag(ctx, repo, "latest"),
				"Tags":         second(ociregistry.All(r.Tags(ctx, repo, ""))),
				"Referrers":    second(ociregistry.All(r.Referrers(ctx, repo, good, ""))),
			} {
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid), qt.Commentf("%s", name))
			}
		})
	}
	for _, dig := range badDigests {
		t.Run("digest="+string(dig), func(t *testing.T) {
			for name, err := range map[string]error{
				"GetBlob":      second(r.GetBlob(ctx, "repo", dig)),
				"GetBlobRange": second(r.GetBlobRange(ctx, "repo", dig, 0, -1)),
				"ResolveBlob":  second(r.ResolveBlob(ctx, "repo", dig)),
				"GetManifest":  second(r.GetManifest(ctx, "repo", dig)),
				"ResolveMan":   second(r.ResolveManifest(ctx, "repo", dig)),
				"PushBlob":     second(r.PushBlob(ctx, "repo", ociregistry.Descriptor{Digest: dig, Size: 1}, strings.NewReader("x"))),
				"Mount":        second(r.MountBlob(ctx, "repo", "other", dig)),
				"DeleteBlob":   r.DeleteBlob(ctx, "repo", dig),
				"DeleteMan":    r.DeleteManifest(ctx, "repo", dig),
				"Referrers":    second(ociregistry.All(r.Referrers(ctx, "repo", dig, ""))),
			} {
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid), qt.Commentf("%s", name))
			}
		})
	}
	for _, tag := range []string{"", "-x", ".x", "a/b", "a:b", strings.Repeat("t", ociregistry.MaxTagLength+1)} {
		t.Run("tag="+tag[:min(len(tag), 10)], func(t *testing.T) {
			for name, err := range map[string]error{
				"GetTag":     second(r.GetTag(ctx, "repo", tag)),
				"ResolveTag": second(r.ResolveTag(ctx, "repo", tag)),
				"DeleteTag":  r.DeleteTag(ctx, "repo", tag),
			} {
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid), qt.Commentf("%s", name))
			}
			if tag == "" {
				return // an empty tag means "no tag" to PushManifest
			}
			_, err := r.PushManifest(ctx, "repo", tag, []byte("{}"), "application/x")
			qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))
		})
	}
	// A tag of the greatest length is fine.
	_, err := r.PushManifest(ctx, "repo", strings.Repeat("t", ociregistry.MaxTagLength), []byte("{}"), "application/x")
	qt.Assert(t, qt.IsNil(err))
}

func second[T any](_ T, err error) error { return err }

func TestReaderDoesNotShareState(t *testing.T) {
	// Two readers of one blob read independently.
	r := ocimem.New()
	desc := pushBlob(t, r, "repo", digest.SHA256, "abcdef")
	br1, err := r.GetBlob(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	br2, err := r.GetBlob(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	buf := make([]byte, 3)
	_, err = io.ReadFull(br1, buf)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(readAll(t, br2, desc), "abcdef"))
	qt.Assert(t, qt.Equals(readAll(t, br1, desc), "def"))
}
