package ocis3

import (
	"bytes"
	"context"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

// SetClockSlack sets how far the garbage collector assumes clocks
// disagree, and returns a function that restores it.
func SetClockSlack(d time.Duration) func() {
	old := clockSlack
	clockSlack = d
	return func() { clockSlack = old }
}

// HoldGCState takes gc/state as a collection would, and returns the
// function that lets it go.
func (r *Registry) HoldGCState(ctx context.Context) (func() error, error) {
	l, err := r.acquire(ctx, r.gcStateKey())
	if err != nil {
		return nil, err
	}
	return func() error { return l.release(ctx) }, nil
}

// HoldRepoGCState takes the fence of a repository's links as a
// collection would, and returns the function that lets it go.
func (r *Registry) HoldRepoGCState(ctx context.Context, repo string) (func() error, error) {
	l, err := r.acquire(ctx, r.gcRepoStateKey(repo))
	if err != nil {
		return nil, err
	}
	return func() error { return l.release(ctx) }, nil
}

// BlobKey returns the key of a blob's content.
var BlobKey = (*Registry).blobKey

// BlobLinkKey returns the key of a repository's link to a blob.
var BlobLinkKey = (*Registry).blobLinkKey

// CatalogName and RepoFromCatalogName expose the catalog's key code.
var (
	CatalogName         = catalogName
	RepoFromCatalogName = repoFromCatalogName
)

// SetMaxUploadParts sets the most part objects one chunked upload may
// hold, and returns a function that restores it.
func SetMaxUploadParts(n int) func() {
	old := maxUploadParts
	maxUploadParts = n
	return func() { maxUploadParts = old }
}

// SetGCNow makes the garbage collector take t as the time it starts, and
// returns a function that restores its clock.
func SetGCNow(t time.Time) func() {
	old := gcNow
	gcNow = func() time.Time { return t }
	return func() { gcNow = old }
}

// PutStreamedUnchecked sends content to the blob key of d in one
// streamed PUT as PushBlob does, with ocis3's own check of the content
// left out, so that a test sees what the store checks.
func (r *Registry) PutStreamedUnchecked(ctx context.Context, d ociregistry.Digest, content []byte) error {
	_, err := r.putStreamed(ctx, r.blobKey(d), bytes.NewReader(content), int64(len(content)), d, d.Algorithm().Hash(), func(int64) error { return nil })
	return err
}

// PutStreamed sends content to the blob key of d in one streamed PUT as
// PushBlob does, checking it against d, but without looking first
// whether the blob is there, as a push racing with another would.
func (r *Registry) PutStreamed(ctx context.Context, d ociregistry.Digest, content []byte) error {
	h := d.Algorithm().Hash()
	_, err := r.putStreamed(ctx, r.blobKey(d), bytes.NewReader(content), int64(len(content)), d, h, func(n int64) error {
		if n != int64(len(content)) || digest.NewDigest(d.Algorithm(), h) != d {
			return ociregistry.ErrDigestInvalid
		}
		return nil
	})
	return err
}

// SetDeletionLease sets how long a DeleteManifest's marker holds, and
// returns a function that restores it.
func SetDeletionLease(d time.Duration) func() {
	old := deletionLease
	deletionLease = d
	return func() { deletionLease = old }
}

// MarkDeletion leaves a marker of a deletion of the manifest with sha256
// digest d256 in repo, as a replica that died deleting it would.
func (r *Registry) MarkDeletion(ctx context.Context, repo string, d256 ociregistry.Digest) error {
	_, err := r.put(ctx, r.deletionsPrefix(repo, d256)+"dead", nil, putOptions{})
	return err
}
