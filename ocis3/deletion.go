package ocis3

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ocireg/ociregistry"
)

// A DeleteManifest and a PushManifest of the same content must end as
// one whole after the other, whatever replicas they run on: a push whose
// writes a delete overlapped cannot tell which of them the delete saw
// (the tag it wrote may be removed, the manifest it stored again may
// stay), so it writes everything once more after the delete has ended.
// To see the overlap, a delete holds a marker object of its own under
// the manifest's deletion prefix for as long as it removes objects, and
// before letting it go it writes the manifest's deletion record afresh
// (a new ETag). A push reads the record before it writes, and after:
// the record and then the markers. A delete that removed anything while
// the push wrote either wrote the record in between or still held its
// marker when the push looked (it writes the record after its last
// removal and lets go after that), and a delete that removed nothing
// meanwhile came wholly before the push's writes or after them.
//
// A marker is let go by writing it again with one byte rather than by
// deleting it: versitygw's posix backend removes a directory once its
// last object goes, and a write into the directory at that moment may
// fail, or (seen in tests) never end. The garbage collector removes old
// markers.

// deletionLease is how long a marker holds after its last write; one
// older than that was left by a replica that died deleting (or whose
// clock is that far from the bucket's). Tests set it.
var deletionLease = time.Minute

// deletedKeep is how long deletion records are kept; the garbage
// collector removes older ones. A push that takes half as long between
// its two reads of the record writes again, as its record may have
// gone meanwhile.
const deletedKeep = time.Hour

// deletionsPrefix is where the markers of deletions of the manifest
// with sha256 digest d256 in repo go.
func (r *Registry) deletionsPrefix(repo string, d256 ociregistry.Digest) string {
	return r.repoKey(repo) + "_deleting/" + string(d256.Algorithm()) + "/" + d256.Encoded() + "/"
}

// deletedKey is the key of the deletion record of the manifest with
// sha256 digest d256 in repo.
func (r *Registry) deletedKey(repo string, d256 ociregistry.Digest) string {
	return r.repoKey(repo) + "_deleted/" + string(d256.Algorithm()) + "/" + d256.Encoded()
}

// deletion is a marker that a DeleteManifest holds, renewed every sixth
// of deletionLease while held.
type deletion struct {
	r      *Registry
	key    string
	record string // the key of the deletion record
	rn     *renewer
}

// markDeletion writes a new marker for a deletion of the manifest with
// sha256 digest d256 in repo.
func (r *Registry) markDeletion(ctx context.Context, repo string, d256 ociregistry.Digest) (*deletion, error) {
	m := &deletion{r: r, key: r.deletionsPrefix(repo, d256) + rand.Text(), record: r.deletedKey(repo, d256)}
	write := func(ctx context.Context) error {
		_, err := r.put(ctx, m.key, nil, putOptions{})
		return err
	}
	if err := write(ctx); err != nil {
		return nil, fmt.Errorf("ocis3: marking deletion: %w", err)
	}
	m.rn = startRenewer(ctx, deletionLease/6, write)
	return m, nil
}

// remove runs one removal, if the marker is still fresh enough that
// pushes see it until well after the removal's request can have landed:
// it was written within a third of its lease, and the request is given
// a sixth.
func (m *deletion) remove(ctx context.Context, f func(context.Context) error) error {
	if !m.rn.freshWithin(deletionLease / 3) {
		return fmt.Errorf("ocis3: could not renew the deletion's marker %s", m.key)
	}
	ctx, cancel := context.WithTimeout(ctx, deletionLease/6)
	defer cancel()
	return f(ctx)
}

// end writes the deletion record afresh and, when the deletion
// succeeded, lets go of the marker, whatever the state of ctx. After a
// failure a removal's request may still land, so the marker holds until
// its lease has gone.
func (m *deletion) end(ctx context.Context, ok bool) {
	m.rn.halt()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := m.r.put(ctx, m.record, []byte(rand.Text()), putOptions{}); err != nil || !ok {
		// Without the record, the marker must hold for pushes to
		// see, until its lease has gone.
		return
	}
	m.r.put(ctx, m.key, endedMarker, putOptions{})
}

// endedMarker is the content of a marker that its deletion let go of; a
// held one is empty.
var endedMarker = []byte{'-'}

// deleting reports whether a deletion of the manifest with sha256
// digest d256 in repo holds a marker now.
func (r *Registry) deleting(ctx context.Context, repo string, d256 ociregistry.Digest) (bool, error) {
	for o, err := range r.list(ctx, r.deletionsPrefix(repo, d256), "") {
		if err != nil {
			return false, fmt.Errorf("ocis3: listing deletions: %w", err)
		}
		if aws.ToInt64(o.Size) == 0 && time.Since(aws.ToTime(o.LastModified)) < deletionLease {
			return true, nil
		}
	}
	return false, nil
}

// deletedETag returns the ETag of the deletion record of the manifest
// with sha256 digest d256 in repo, or "" when there is none.
func (r *Registry) deletedETag(ctx context.Context, repo string, d256 ociregistry.Digest) (string, error) {
	obj, err := r.head(ctx, r.deletedKey(repo, d256))
	if err != nil {
		if isNotFound(err) {
			return "", nil
		}
		return "", fmt.Errorf("ocis3: reading deletion record: %w", err)
	}
	return obj.etag, nil
}

// Polling bounds for a push that waits for deletions to end.
const (
	deletionPollMin = 20 * time.Millisecond
	deletionPollMax = 250 * time.Millisecond
)

// writeApartFromDeletions calls write, which writes the manifest with
// sha256 digest d256 in repo, its tag and its referrer entry, and calls
// it again, once every deletion of the manifest has ended, for as long
// as deletions overlap it. It returns write's error, or the context's.
func (r *Registry) writeApartFromDeletions(ctx context.Context, repo string, d256 ociregistry.Digest, write func() error) error {
	for {
		before, err := r.deletedETag(ctx, repo, d256)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := write(); err != nil {
			return err
		}
		busy, err := r.deleting(ctx, repo, d256)
		if err != nil {
			return err
		}
		after, err := r.deletedETag(ctx, repo, d256)
		if err != nil {
			return err
		}
		if !busy && after == before && time.Since(start) < deletedKeep/2 {
			return nil
		}
		for poll := deletionPollMin; busy; poll = min(2*poll, deletionPollMax) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(poll):
			}
			if busy, err = r.deleting(ctx, repo, d256); err != nil {
				return err
			}
		}
	}
}
