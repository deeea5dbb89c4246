package ocifilter

import (
	"context"
	"io"
	"iter"
	"strings"

	"github.com/ocireg/ociregistry"
)

// Sub returns a view of the repositories of r whose names start with
// prefix followed by a slash, with that part removed: repository "x" of
// the view is repository prefix+"/x" of r. Repositories of r outside the
// prefix are not visible. A name that, joined with prefix, is longer than
// a repository name may be is rejected by r as usual.
func Sub(r ociregistry.Interface, prefix string) ociregistry.Interface {
	return &sub{forward: forward{r: r}, prefix: strings.TrimSuffix(prefix, "/") + "/"}
}

type sub struct {
	forward
	prefix string // with a trailing slash
}

func (r *sub) GetBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	x, err := r.r.GetBlob(ctx, r.prefix+repo, dg)
	return x, r.unprefix(err)
}

func (r *sub) GetBlobRange(ctx context.Context, repo string, dg ociregistry.Digest, o0, o1 int64) (ociregistry.BlobReader, error) {
	x, err := r.r.GetBlobRange(ctx, r.prefix+repo, dg, o0, o1)
	return x, r.unprefix(err)
}

func (r *sub) GetManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.BlobReader, error) {
	x, err := r.r.GetManifest(ctx, r.prefix+repo, dg)
	return x, r.unprefix(err)
}

func (r *sub) GetTag(ctx context.Context, repo string, tag string) (ociregistry.BlobReader, error) {
	x, err := r.r.GetTag(ctx, r.prefix+repo, tag)
	return x, r.unprefix(err)
}

func (r *sub) ResolveBlob(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	x, err := r.r.ResolveBlob(ctx, r.prefix+repo, dg)
	return x, r.unprefix(err)
}

func (r *sub) ResolveManifest(ctx context.Context, repo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	x, err := r.r.ResolveManifest(ctx, r.prefix+repo, dg)
	return x, r.unprefix(err)
}

func (r *sub) ResolveTag(ctx context.Context, repo string, tag string) (ociregistry.Descriptor, error) {
	x, err := r.r.ResolveTag(ctx, r.prefix+repo, tag)
	return x, r.unprefix(err)
}

func (r *sub) PushBlob(ctx context.Context, repo string, desc ociregistry.Descriptor, rd io.Reader) (ociregistry.Descriptor, error) {
	x, err := r.r.PushBlob(ctx, r.prefix+repo, desc, rd)
	return x, r.unprefix(err)
}

func (r *sub) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
	x, err := r.r.PushBlobChunked(ctx, r.prefix+repo, chunkSize)
	return x, r.unprefix(err)
}

func (r *sub) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	x, err := r.r.PushBlobChunkedResume(ctx, r.prefix+repo, id, offset, chunkSize)
	return x, r.unprefix(err)
}

func (r *sub) MountBlob(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	x, err := r.r.MountBlob(ctx, r.prefix+fromRepo, r.prefix+toRepo, dg)
	return x, r.unprefix(err)
}

func (r *sub) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
	x, err := r.r.PushManifest(ctx, r.prefix+repo, tag, contents, mediaType)
	return x, r.unprefix(err)
}

func (r *sub) DeleteBlob(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return r.unprefix(r.r.DeleteBlob(ctx, r.prefix+repo, dg))
}

func (r *sub) DeleteManifest(ctx context.Context, repo string, dg ociregistry.Digest) error {
	return r.unprefix(r.r.DeleteManifest(ctx, r.prefix+repo, dg))
}

func (r *sub) DeleteTag(ctx context.Context, repo string, name string) error {
	return r.unprefix(r.r.DeleteTag(ctx, r.prefix+repo, name))
}

// Repositories relies on the names under the prefix being contiguous in
// lexical order, so it can start at the prefix and stop at the first
// name outside it.
func (r *sub) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for repo, err := range r.r.Repositories(ctx, r.prefix+startAfter) {
			if err != nil {
				yield("", r.unprefix(err))
				return
			}
			name, ok := strings.CutPrefix(repo, r.prefix)
			if !ok {
				return
			}
			if !yield(name, nil) {
				return
			}
		}
	}
}

func (r *sub) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	return unprefixSeq(r, r.r.Tags(ctx, r.prefix+repo, startAfter))
}

func (r *sub) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return unprefixSeq(r, r.r.Referrers(ctx, r.prefix+repo, dg, artifactType))
}

// unprefix returns err, an error of the registry under the view, with
// the view's names in its text: the registry's names hold the prefix,
// which the view hides.
func (r *sub) unprefix(err error) error {
	if err == nil {
		return nil
	}
	return &subError{err: err, prefix: r.prefix}
}

// unprefixSeq yields what seq yields, its error unprefixed.
func unprefixSeq[T any](r *sub, seq iter.Seq2[T, error]) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for x, err := range seq {
			if !yield(x, r.unprefix(err)) || err != nil {
				return
			}
		}
	}
}

// subError is an error of the registry under a Sub view, told in the
// view's names.
type subError struct {
	err    error
	prefix string // with its trailing slash
}

// Error returns the text of the error with the prefix taken off each
// name that starts with it: where it begins the text or follows a
// character that no repository name holds.
func (e *subError) Error() string {
	text := e.err.Error()
	var b strings.Builder
	for {
		i := strings.Index(text, e.prefix)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		if i > 0 && isNameByte(text[i-1]) {
			b.WriteString(e.prefix)
		}
		text = text[i+len(e.prefix):]
	}
}

// isNameByte reports whether c may be part of a repository name.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/'
}
func (e *subError) Unwrap() error { return e.err }
