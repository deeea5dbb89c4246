package ocis3

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ocireg/ociregistry"
)

// A DeleteManifest announces itself, for as long as it removes a
// manifest's objects, tags and referrer entry, with a marker object of
// its own under the manifest's deletion prefix. A PushManifest of the
// same content that overlapped it cannot tell which of its own writes
// the delete saw (the tag it wrote may be removed, the manifest it
// stored again may stay), so it waits for every marker to go and then
// writes everything once more: the push then comes after the delete, as
// though it had started after it.

// deletionLease is how long a marker holds after its last write; one
// older than that was left by a replica that died deleting. Tests set
// it.
var deletionLease = time.Minute

// deletionsPrefix is where the markers of deletions of the manifest
// with sha256 digest d256 in repo go.
func (r *Registry) deletionsPrefix(repo string, d256 ociregistry.Digest) string {
	return r.repoKey(repo) + "_deleting/" + string(d256.Algorithm()) + "/" + d256.Encoded() + "/"
}

// deletion is a marker that a DeleteManifest holds.
type deletion struct {
	r       *Registry
	key     string
	renewed time.Time
}

// markDeletion writes a new marker for a deletion of the manifest with
// sha256 digest d256 in repo.
func (r *Registry) markDeletion(ctx context.Context, repo string, d256 ociregistry.Digest) (*deletion, error) {
	m := &deletion{r: r, key: r.deletionsPrefix(repo, d256) + rand.Text()}
	if err := m.write(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *deletion) write(ctx context.Context) error {
	if _, err := m.r.put(ctx, m.key, nil, putOptions{}); err != nil {
		return fmt.Errorf("ocis3: marking deletion: %w", err)
	}
	m.renewed = time.Now()
	return nil
}

// keep writes the marker again when a third of its lease has gone.
func (m *deletion) keep(ctx context.Context) error {
	if time.Since(m.renewed) < deletionLease/3 {
		return nil
	}
	return m.write(ctx)
}

// end removes the marker, whatever the state of ctx.
func (m *deletion) end(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	// One left behind only delays pushes of this manifest until its
	// lease has gone, and the garbage collector removes it.
	m.r.del(ctx, m.key, "")
}

// deleting reports whether a deletion of the manifest with sha256
// digest d256 in repo holds a marker now.
func (r *Registry) deleting(ctx context.Context, repo string, d256 ociregistry.Digest) (bool, error) {
	for o, err := range r.list(ctx, r.deletionsPrefix(repo, d256), "") {
		if err != nil {
			return false, fmt.Errorf("ocis3: listing deletions: %w", err)
		}
		if time.Since(aws.ToTime(o.LastModified)) < deletionLease {
			return true, nil
		}
	}
	return false, nil
}

// Polling bounds for a push that waits for deletions to end.
const (
	deletionPollMin = 20 * time.Millisecond
	deletionPollMax = 250 * time.Millisecond
)

// settleAfterDeletions ends a PushManifest that has written the manifest
// with sha256 digest d256 (and its tag): while the manifest is missing
// or a deletion of it holds a marker, it waits for the deletions to end
// and calls store, which writes everything again. It returns store's
// error, or the context's.
func (r *Registry) settleAfterDeletions(ctx context.Context, repo string, d256 ociregistry.Digest, store func() error) error {
	for {
		// The manifest is looked at before the markers: a deletion
		// that removed it and then let go of its marker is seen by
		// one or the other, and one that marks after this look
		// begins after the tag was written, so it sees the tag.
		_, err := r.head(ctx, r.manifestKey(repo, d256))
		present := err == nil
		if err != nil && !isNotFound(err) {
			return err
		}
		busy, err := r.deleting(ctx, repo, d256)
		if err != nil {
			return err
		}
		if present && !busy {
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
		if err := store(); err != nil {
			return err
		}
	}
}
