package ociregistry_test

import (
	"context"
	"errors"
	"iter"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

var ctx = context.Background()

// callAll calls every method of r and returns the errors, by method name.
func callAll(r ociregistry.Interface) map[string]error {
	dig := digest.FromString("x")
	second := func(_ any, err error) error { return err }
	firstErr := func(xs []string, err error) error { return err }
	firstDescErr := func(xs []ociregistry.Descriptor, err error) error { return err }
	return map[string]error{
		"GetBlob":               second(r.GetBlob(ctx, "repo", dig)),
		"GetBlobRange":          second(r.GetBlobRange(ctx, "repo", dig, 0, 1)),
		"GetManifest":           second(r.GetManifest(ctx, "repo", dig)),
		"GetTag":                second(r.GetTag(ctx, "repo", "tag")),
		"ResolveBlob":           second(r.ResolveBlob(ctx, "repo", dig)),
		"ResolveManifest":       second(r.ResolveManifest(ctx, "repo", dig)),
		"ResolveTag":            second(r.ResolveTag(ctx, "repo", "tag")),
		"PushBlob":              second(r.PushBlob(ctx, "repo", ociregistry.Descriptor{}, strings.NewReader(""))),
		"PushBlobChunked":       second(r.PushBlobChunked(ctx, "repo", 0)),
		"PushBlobChunkedResume": second(r.PushBlobChunkedResume(ctx, "repo", "id", 0, 0)),
		"MountBlob":             second(r.MountBlob(ctx, "from", "repo", dig)),
		"PushManifest":          second(r.PushManifest(ctx, "repo", "tag", nil, "")),
		"DeleteBlob":            r.DeleteBlob(ctx, "repo", dig),
		"DeleteManifest":        r.DeleteManifest(ctx, "repo", dig),
		"DeleteTag":             r.DeleteTag(ctx, "repo", "tag"),
		"Repositories":          firstErr(ociregistry.All(r.Repositories(ctx, ""))),
		"Tags":                  firstErr(ociregistry.All(r.Tags(ctx, "repo", ""))),
		"Referrers":             firstDescErr(ociregistry.All(r.Referrers(ctx, "repo", dig, ""))),
	}
}

func TestFuncsUnsupported(t *testing.T) {
	for name, f := range map[string]*ociregistry.Funcs{
		"Nil":   nil,
		"Empty": {},
	} {
		t.Run(name, func(t *testing.T) {
			errs := callAll(f)
			qt.Assert(t, qt.HasLen(errs, 18))
			for method, err := range errs {
				qt.Check(t, qt.ErrorIs(err, ociregistry.ErrUnsupported), qt.Commentf("%s", method))
				// The error names the method.
				qt.Check(t, qt.StringContains(err.Error(), method), qt.Commentf("%s", method))
			}
		})
	}
}

func TestFuncsNewError(t *testing.T) {
	type call struct{ method, repo string }
	var calls []call
	errDenied := errors.New("custom")
	f := &ociregistry.Funcs{
		NewError: func(ctx context.Context, methodName, repo string) error {
			calls = append(calls, call{methodName, repo})
			return errDenied
		},
	}
	for method, err := range callAll(f) {
		qt.Check(t, qt.Equals(err, errDenied), qt.Commentf("%s", method))
	}
	qt.Assert(t, qt.HasLen(calls, 18))
	for _, c := range calls {
		switch c.method {
		case "Repositories":
			qt.Check(t, qt.Equals(c.repo, ""))
		default:
			// MountBlob reports the repository it writes to.
			qt.Check(t, qt.Equals(c.repo, "repo"), qt.Commentf("%s", c.method))
		}
	}
}

func TestFuncsCallsFields(t *testing.T) {
	// Each method calls its field with its arguments and returns what
	// it returns.
	var got []string
	record := func(s string) { got = append(got, s) }
	wantDesc := ociregistry.Descriptor{MediaType: "m", Digest: digest.FromString("d"), Size: 1}
	errX := errors.New("x")
	f := &ociregistry.Funcs{
		GetBlob_: func(ctx context.Context, repo string, d ociregistry.Digest) (ociregistry.BlobReader, error) {
			record("GetBlob " + repo + " " + string(d))
			return nil, errX
		},
		GetBlobRange_: func(ctx context.Context, repo string, d ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
			record("GetBlobRange " + repo)
			qt.Check(t, qt.Equals(o0, int64(3)))
			qt.Check(t, qt.Equals(o1, int64(7)))
			return nil, errX
		},
		ResolveTag_: func(ctx context.Context, repo, tag string) (ociregistry.Descriptor, error) {
			record("ResolveTag " + repo + " " + tag)
			return wantDesc, nil
		},
		MountBlob_: func(ctx context.Context, from, to string, d ociregistry.Digest) (ociregistry.Descriptor, error) {
			record("MountBlob " + from + " " + to)
			return wantDesc, nil
		},
		DeleteTag_: func(ctx context.Context, repo, tag string) error {
			record("DeleteTag " + repo + " " + tag)
			return nil
		},
		Tags_: func(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
			record("Tags " + repo + " " + startAfter)
			return ociregistry.SliceSeq([]string{"a", "b"})
		},
	}
	dig := digest.FromString("y")
	_, err := f.GetBlob(ctx, "r1", dig)
	qt.Assert(t, qt.Equals(err, errX))
	_, err = f.GetBlobRange(ctx, "r2", dig, 3, 7)
	qt.Assert(t, qt.Equals(err, errX))
	desc, err := f.ResolveTag(ctx, "r3", "t")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(desc, wantDesc))
	desc, err = f.MountBlob(ctx, "from", "to", dig)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(desc, wantDesc))
	qt.Assert(t, qt.IsNil(f.DeleteTag(ctx, "r4", "u")))
	tags, err := ociregistry.All(f.Tags(ctx, "r5", "s"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"a", "b"}))
	// The others are still unsupported.
	_, err = f.GetManifest(ctx, "r", dig)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrUnsupported))

	qt.Assert(t, qt.DeepEquals(got, []string{
		"GetBlob r1 " + string(dig),
		"GetBlobRange r2",
		"ResolveTag r3 t",
		"MountBlob from to",
		"DeleteTag r4 u",
		"Tags r5 s",
	}))
}

// embedder shows how implementations embed *Funcs: the methods they
// define win, the others answer ErrUnsupported.
type embedder struct {
	*ociregistry.Funcs
}

func (embedder) DeleteTag(ctx context.Context, repo, name string) error { return nil }

func TestFuncsEmbedded(t *testing.T) {
	var r ociregistry.Interface = embedder{}
	qt.Assert(t, qt.IsNil(r.DeleteTag(ctx, "repo", "tag")))
	err := r.DeleteManifest(ctx, "repo", digest.FromString("x"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrUnsupported))
}
