package ociregistry

import (
	"context"
	"io"
	"iter"
)

// Funcs implements Interface with one func field per method. A nil field,
// or a nil *Funcs, answers ErrUnsupported wrapped with the method's name
// (or the error that NewError makes, when set); a nil iterator field
// yields that error.
//
// Every implementation of Interface embeds *Funcs (nil, when it
// implements every method itself), which is what lets the Interface grow:
// a method added later answers ErrUnsupported until the implementation
// catches up.
type Funcs struct {
	// NewError, when set, makes the error that a method without a func
	// answers, in place of ErrUnsupported.
	NewError func(ctx context.Context, methodName, repo string) error

	// Each of these implements the method of the same name less the
	// trailing underscore.
	GetBlob_               func(ctx context.Context, repo string, digest Digest) (BlobReader, error)
	GetBlobRange_          func(ctx context.Context, repo string, digest Digest, offset0, offset1 int64) (BlobReader, error)
	GetManifest_           func(ctx context.Context, repo string, digest Digest) (BlobReader, error)
	GetTag_                func(ctx context.Context, repo string, tagName string) (BlobReader, error)
	ResolveBlob_           func(ctx context.Context, repo string, digest Digest) (Descriptor, error)
	ResolveManifest_       func(ctx context.Context, repo string, digest Digest) (Descriptor, error)
	ResolveTag_            func(ctx context.Context, repo string, tagName string) (Descriptor, error)
	PushBlob_              func(ctx context.Context, repo string, desc Descriptor, r io.Reader) (Descriptor, error)
	PushBlobChunked_       func(ctx context.Context, repo string, chunkSize int) (BlobWriter, error)
	PushBlobChunkedResume_ func(ctx context.Context, repo, id string, offset int64, chunkSize int) (BlobWriter, error)
	MountBlob_             func(ctx context.Context, fromRepo, toRepo string, digest Digest) (Descriptor, error)
	PushManifest_          func(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (Descriptor, error)
	DeleteBlob_            func(ctx context.Context, repo string, digest Digest) error
	DeleteManifest_        func(ctx context.Context, repo string, digest Digest) error
	DeleteTag_             func(ctx context.Context, repo string, name string) error
	Repositories_          func(ctx context.Context, startAfter string) iter.Seq2[string, error]
	Tags_                  func(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error]
	Referrers_             func(ctx context.Context, repo string, digest Digest, artifactType string) iter.Seq2[Descriptor, error]
}

// This ensures that Funcs implements Interface.
var _ Interface = (*Funcs)(nil)

func (*Funcs) private() {}

// newError returns the error for an unsupported method: the result of
// f.NewError when it is set, else ErrUnsupported wrapped with the
// method's name.
func (f *Funcs) newError(ctx context.Context, method, repo string) error {
	if f != nil && f.NewError != nil {
		return f.NewError(ctx, method, repo)
	}
	return &unsupportedError{method: method}
}

type unsupportedError struct{ method string }

func (e *unsupportedError) Error() string { return e.method + ": " + ErrUnsupported.Error() }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }

// GetBlob calls f.GetBlob_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) GetBlob(ctx context.Context, repo string, digest Digest) (BlobReader, error) {
	if f != nil && f.GetBlob_ != nil {
		return f.GetBlob_(ctx, repo, digest)
	}
	return nil, f.newError(ctx, "GetBlob", repo)
}

// GetBlobRange calls f.GetBlobRange_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) GetBlobRange(ctx context.Context, repo string, digest Digest, offset0, offset1 int64) (BlobReader, error) {
	if f != nil && f.GetBlobRange_ != nil {
		return f.GetBlobRange_(ctx, repo, digest, offset0, offset1)
	}
	return nil, f.newError(ctx, "GetBlobRange", repo)
}

// GetManifest calls f.GetManifest_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) GetManifest(ctx context.Context, repo string, digest Digest) (BlobReader, error) {
	if f != nil && f.GetManifest_ != nil {
		return f.GetManifest_(ctx, repo, digest)
	}
	return nil, f.newError(ctx, "GetManifest", repo)
}

// GetTag calls f.GetTag_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) GetTag(ctx context.Context, repo string, tagName string) (BlobReader, error) {
	if f != nil && f.GetTag_ != nil {
		return f.GetTag_(ctx, repo, tagName)
	}
	return nil, f.newError(ctx, "GetTag", repo)
}

// ResolveBlob calls f.ResolveBlob_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) ResolveBlob(ctx context.Context, repo string, digest Digest) (Descriptor, error) {
	if f != nil && f.ResolveBlob_ != nil {
		return f.ResolveBlob_(ctx, repo, digest)
	}
	return Descriptor{}, f.newError(ctx, "ResolveBlob", repo)
}

// ResolveManifest calls f.ResolveManifest_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) ResolveManifest(ctx context.Context, repo string, digest Digest) (Descriptor, error) {
	if f != nil && f.ResolveManifest_ != nil {
		return f.ResolveManifest_(ctx, repo, digest)
	}
	return Descriptor{}, f.newError(ctx, "ResolveManifest", repo)
}

// ResolveTag calls f.ResolveTag_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) ResolveTag(ctx context.Context, repo string, tagName string) (Descriptor, error) {
	if f != nil && f.ResolveTag_ != nil {
		return f.ResolveTag_(ctx, repo, tagName)
	}
	return Descriptor{}, f.newError(ctx, "ResolveTag", repo)
}

// PushBlob calls f.PushBlob_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) PushBlob(ctx context.Context, repo string, desc Descriptor, r io.Reader) (Descriptor, error) {
	if f != nil && f.PushBlob_ != nil {
		return f.PushBlob_(ctx, repo, desc, r)
	}
	return Descriptor{}, f.newError(ctx, "PushBlob", repo)
}

// PushBlobChunked calls f.PushBlobChunked_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) PushBlobChunked(ctx context.Context, repo string, chunkSize int) (BlobWriter, error) {
	if f != nil && f.PushBlobChunked_ != nil {
		return f.PushBlobChunked_(ctx, repo, chunkSize)
	}
	return nil, f.newError(ctx, "PushBlobChunked", repo)
}

// PushBlobChunkedResume calls f.PushBlobChunkedResume_, or answers
// ErrUnsupported (or the error f.NewError makes).
func (f *Funcs) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (BlobWriter, error) {
	if f != nil && f.PushBlobChunkedResume_ != nil {
		return f.PushBlobChunkedResume_(ctx, repo, id, offset, chunkSize)
	}
	return nil, f.newError(ctx, "PushBlobChunkedResume", repo)
}

// MountBlob calls f.MountBlob_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) MountBlob(ctx context.Context, fromRepo, toRepo string, digest Digest) (Descriptor, error) {
	if f != nil && f.MountBlob_ != nil {
		return f.MountBlob_(ctx, fromRepo, toRepo, digest)
	}
	return Descriptor{}, f.newError(ctx, "MountBlob", toRepo)
}

// PushManifest calls f.PushManifest_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) PushManifest(ctx context.Context, repo string, tag string, contents []byte, mediaType string) (Descriptor, error) {
	if f != nil && f.PushManifest_ != nil {
		return f.PushManifest_(ctx, repo, tag, contents, mediaType)
	}
	return Descriptor{}, f.newError(ctx, "PushManifest", repo)
}

// DeleteBlob calls f.DeleteBlob_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) DeleteBlob(ctx context.Context, repo string, digest Digest) error {
	if f != nil && f.DeleteBlob_ != nil {
		return f.DeleteBlob_(ctx, repo, digest)
	}
	return f.newError(ctx, "DeleteBlob", repo)
}

// DeleteManifest calls f.DeleteManifest_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) DeleteManifest(ctx context.Context, repo string, digest Digest) error {
	if f != nil && f.DeleteManifest_ != nil {
		return f.DeleteManifest_(ctx, repo, digest)
	}
	return f.newError(ctx, "DeleteManifest", repo)
}

// DeleteTag calls f.DeleteTag_, or answers ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) DeleteTag(ctx context.Context, repo string, name string) error {
	if f != nil && f.DeleteTag_ != nil {
		return f.DeleteTag_(ctx, repo, name)
	}
	return f.newError(ctx, "DeleteTag", repo)
}

// Repositories calls f.Repositories_, or yields ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	if f != nil && f.Repositories_ != nil {
		return f.Repositories_(ctx, startAfter)
	}
	return ErrorSeq[string](f.newError(ctx, "Repositories", ""))
}

// Tags calls f.Tags_, or yields ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	if f != nil && f.Tags_ != nil {
		return f.Tags_(ctx, repo, startAfter)
	}
	return ErrorSeq[string](f.newError(ctx, "Tags", repo))
}

// Referrers calls f.Referrers_, or yields ErrUnsupported (or the
// error f.NewError makes).
func (f *Funcs) Referrers(ctx context.Context, repo string, digest Digest, artifactType string) iter.Seq2[Descriptor, error] {
	if f != nil && f.Referrers_ != nil {
		return f.Referrers_(ctx, repo, digest, artifactType)
	}
	return ErrorSeq[Descriptor](f.newError(ctx, "Referrers", repo))
}
