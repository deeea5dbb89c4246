package ocis3

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// DefaultGCGracePeriod is the GCOptions.GracePeriod used when it is zero.
const DefaultGCGracePeriod = time.Hour

// gcLease is how long gc/state says a collection holds the fence; the
// collector renews it every third of that, so that a collector that
// dies stops holding up pushes after at most this long.
const gcLease = 30 * time.Second

// clockSlack is how far the bucket's clock and ours may disagree; a
// variable so that tests can do without it.
var clockSlack = 5 * time.Second

// gcNow is the collector's clock, which tests set.
var gcNow = time.Now

// GCOptions holds the settings of a garbage collection. The zero value
// gives the defaults.
type GCOptions struct {
	// GracePeriod protects what is newer: a blob or link written (or
	// linked again) within it is never deleted, which keeps the blobs of
	// a push in flight whose manifest is not there yet. Zero means
	// DefaultGCGracePeriod.
	GracePeriod time.Duration

	// DryRun reports what would be deleted without deleting anything.
	DryRun bool

	// UploadMaxAge, when not zero, replaces Config.UploadMaxAge: the
	// age beyond which chunked uploads without a write are removed.
	UploadMaxAge time.Duration
}

// GCResult says what a garbage collection deleted, or would delete in a
// dry run.
type GCResult struct {
	// Blobs holds the digests of the blob contents deleted.
	Blobs []ociregistry.Digest
	// BytesFreed is the total size of Blobs.
	BytesFreed int64
	// BlobLinks counts the repositories' links to blobs that no
	// manifest of their repository referred to.
	BlobLinks int
	// Uploads counts the stale chunked uploads removed, and
	// multipart uploads abandoned by replicas that died mid-push.
	Uploads int
}

// GC deletes what nothing refers to. It marks the blobs that the
// manifests of every repository refer to; removes each repository's
// links to blobs that no manifest of the repository refers to; then
// removes the content of blobs that no remaining link names. Nothing
// written within opts.GracePeriod is removed, and a link is removed only
// if it still has the ETag it was listed with (a push that links the
// blob again rewrites it). Chunked uploads without a write for
// Config.UploadMaxAge, and multipart uploads older than the grace
// period, are removed too. Manifests are never removed.
//
// GC is safe while replicas serve and push: it holds gc/state (see the
// package documentation) from before it lists anything until it has
// deleted everything, and every push that relies on what was there
// before it began checks gc/state and, if a collection overlapped it,
// checks that what it relied on survived. Only one collection runs at a
// time: GC returns an error when another holds gc/state. It also
// returns an error when the bucket cannot be read; what it deleted
// before then stays deleted.
func (r *Registry) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGCGracePeriod
	}
	g := &collector{r: r, opts: opts, marked: make(map[ociregistry.Digest]bool)}
	if !opts.DryRun {
		l, err := r.acquire(ctx, r.gcStateKey())
		if err != nil {
			return GCResult{}, err
		}
		g.global = l
		defer l.release(ctx)
	}
	// The bucket's clock sets LastModified; taking the start a little
	// early keeps comparisons with ours on the safe side.
	g.start = gcNow().Add(-clockSlack)
	g.cutoff = g.start.Add(-opts.GracePeriod)
	if err := g.collect(ctx); err != nil {
		return g.result, err
	}
	slices.Sort(g.result.Blobs)
	return g.result, nil
}

type collector struct {
	r      *Registry
	opts   GCOptions
	start  time.Time
	cutoff time.Time
	global *lease // of gc/state, while held
	repo   *lease // of the repository being collected
	marked map[ociregistry.Digest]bool
	result GCResult
}

// keep renews the leases held.
func (g *collector) keep(ctx context.Context) error {
	for _, l := range []*lease{g.global, g.repo} {
		if l != nil {
			if err := l.keep(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (g *collector) collect(ctx context.Context) error {
	r := g.r
	for o, err := range r.list(ctx, r.catalogPrefix(), "") {
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing repositories: %w", err)
		}
		repo, ok := repoFromCatalogName(strings.TrimPrefix(aws.ToString(o.Key), r.catalogPrefix()))
		if !ok || ociregistry.CheckRepository(repo) != nil {
			continue
		}
		if !g.opts.DryRun {
			l, err := r.acquire(ctx, r.gcRepoStateKey(repo))
			if err != nil {
				return err
			}
			g.repo = l
		}
		err := g.collectRepo(ctx, repo)
		if g.repo != nil {
			if rerr := g.repo.release(ctx); err == nil {
				err = rerr
			}
			g.repo = nil
		}
		if err != nil {
			return err
		}
	}
	if err := g.sweepBlobs(ctx); err != nil {
		return err
	}
	return g.sweepUploads(ctx)
}

// collectRepo marks what one repository's manifests refer to, and
// removes its links that nothing refers to.
func (g *collector) collectRepo(ctx context.Context, repo string) error {
	r := g.r
	referenced := make(map[ociregistry.Digest]bool)
	prefix := r.repoKey(repo) + "_manifests/sha256/"
	for o, err := range r.list(ctx, prefix, "") {
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing manifests of %s: %w", repo, err)
		}
		data, obj, err := r.get(ctx, aws.ToString(o.Key))
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return fmt.Errorf("ocis3: gc: %w", err)
		}
		pm, err := ocimanifest.Parse(data, obj.meta[metaMediaType])
		if err != nil {
			continue
		}
		for _, b := range pm.Blobs {
			referenced[b.Digest] = true
			g.marked[b.Digest] = true
		}
	}
	prefix = r.repoKey(repo) + "_blobs/"
	for o, err := range r.list(ctx, prefix, "") {
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing blobs of %s: %w", repo, err)
		}
		key := aws.ToString(o.Key)
		d, ok := keyDigest(key)
		if !ok {
			continue
		}
		if referenced[d] || !aws.ToTime(o.LastModified).Before(g.cutoff) {
			g.marked[d] = true
			continue
		}
		if g.opts.DryRun {
			g.result.BlobLinks++
			continue
		}
		if err := g.keep(ctx); err != nil {
			return err
		}
		// The ETag changes when a push links the blob again.
		if err := r.del(ctx, key, aws.ToString(o.ETag)); err != nil {
			if isConflict(err) {
				g.marked[d] = true
				continue
			}
			if !isNotFound(err) {
				return fmt.Errorf("ocis3: gc: %w", err)
			}
		}
		g.result.BlobLinks++
	}
	// Markers of deletions that ended or whose replica died, and
	// old deletion records.
	for _, old := range []struct {
		prefix string
		age    time.Duration
	}{{"_deleting/", deletionLease}, {"_deleted/", deletedKeep}} {
		for o, err := range r.list(ctx, r.repoKey(repo)+old.prefix, "") {
			if err != nil {
				return fmt.Errorf("ocis3: gc: listing deletions of %s: %w", repo, err)
			}
			if g.opts.DryRun || !aws.ToTime(o.LastModified).Before(g.start.Add(-old.age)) {
				continue
			}
			if err := g.keep(ctx); err != nil {
				return err
			}
			// Only as listed: one written since is new.
			if err := r.del(ctx, aws.ToString(o.Key), aws.ToString(o.ETag)); err != nil && !isConflict(err) && !isNotFound(err) {
				return fmt.Errorf("ocis3: gc: %w", err)
			}
		}
	}
	return nil
}

// sweepBlobs removes the content of every blob that is not marked and
// was written before the grace period.
func (g *collector) sweepBlobs(ctx context.Context) error {
	r := g.r
	for o, err := range r.list(ctx, r.prefix+"blobs/", "") {
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing blobs: %w", err)
		}
		d, ok := keyDigest(aws.ToString(o.Key))
		if !ok || g.marked[d] || !aws.ToTime(o.LastModified).Before(g.cutoff) {
			continue
		}
		if !g.opts.DryRun {
			if err := g.keep(ctx); err != nil {
				return err
			}
			if err := r.del(ctx, aws.ToString(o.Key), ""); err != nil {
				return fmt.Errorf("ocis3: gc: %w", err)
			}
		}
		g.result.Blobs = append(g.result.Blobs, d)
		g.result.BytesFreed += aws.ToInt64(o.Size)
	}
	return nil
}

// sweepUploads removes chunked uploads that have had no write for
// Config.UploadMaxAge, with their parts (and parts without a state, left
// by a writer that died), and aborts the multipart uploads of content
// that replicas began before the grace period and never finished.
func (g *collector) sweepUploads(ctx context.Context) error {
	r := g.r
	maxAge := r.cfg.UploadMaxAge
	if g.opts.UploadMaxAge > 0 {
		maxAge = g.opts.UploadMaxAge
	}
	stale := time.Now().Add(-maxAge)
	prefix := r.prefix + "uploads/"
	// The keys of one upload come together in the listing, so one
	// upload is held at a time.
	var id string
	var keys []string
	var newest time.Time
	flush := func() error {
		if len(keys) == 0 || !newest.Before(stale) {
			return nil
		}
		g.result.Uploads++
		if g.opts.DryRun {
			return nil
		}
		if err := g.keep(ctx); err != nil {
			return err
		}
		if err := r.deleteKeys(ctx, keys); err != nil {
			return fmt.Errorf("ocis3: gc: removing upload %s: %w", id, err)
		}
		return nil
	}
	for o, err := range r.list(ctx, prefix, "") {
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing uploads: %w", err)
		}
		key := aws.ToString(o.Key)
		oid, _, _ := strings.Cut(strings.TrimPrefix(key, prefix), "/")
		if oid != id {
			if err := flush(); err != nil {
				return err
			}
			id, keys, newest = oid, nil, time.Time{}
		}
		keys = append(keys, key)
		if t := aws.ToTime(o.LastModified); t.After(newest) {
			newest = t
		}
	}
	if err := flush(); err != nil {
		return err
	}
	in := &s3.ListMultipartUploadsInput{Bucket: &r.bucket, Prefix: aws.String(r.prefix + "blobs/")}
	for {
		out, err := r.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return fmt.Errorf("ocis3: gc: listing multipart uploads: %w", err)
		}
		for _, u := range out.Uploads {
			if !aws.ToTime(u.Initiated).Before(g.cutoff) {
				continue
			}
			g.result.Uploads++
			if !g.opts.DryRun {
				r.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &r.bucket, Key: u.Key, UploadId: u.UploadId})
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
