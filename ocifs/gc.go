package ocifs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
)

// clockSlack is how far file times may lag time.Now.
const clockSlack = time.Second

// DefaultGCGracePeriod is the GCOptions.GracePeriod used when it is zero.
const DefaultGCGracePeriod = time.Hour

// GCOptions holds the settings of a garbage collection. The zero value
// gives the defaults.
type GCOptions struct {
	// GracePeriod protects what is newer: a blob, link or manifest
	// written, pushed again or mounted within it is never deleted,
	// which keeps the blobs of a push in flight whose manifest is not
	// there yet. Zero means DefaultGCGracePeriod.
	GracePeriod time.Duration

	// DeleteUntagged makes manifests that no tag reaches (directly, as
	// a child of an index, or as a referrer of a manifest kept) garbage
	// too. By default every manifest is kept.
	DeleteUntagged bool

	// DryRun reports what would be deleted without deleting anything.
	DryRun bool

	// UploadMaxAge is the age beyond which chunked uploads without a
	// write are removed. Zero means DefaultUploadMaxAge.
	UploadMaxAge time.Duration
}

// GCResult says what a garbage collection deleted, or would delete in a
// dry run.
type GCResult struct {
	// Blobs holds the digests of the blob and manifest contents deleted.
	Blobs []ociregistry.Digest
	// BytesFreed is the total size of Blobs.
	BytesFreed int64
	// BlobLinks counts the repositories' links to blobs that nothing in
	// their repository referred to.
	BlobLinks int
	// Manifests counts the untagged manifests deleted from
	// repositories (only with GCOptions.DeleteUntagged).
	Manifests int
	// Uploads counts the stale uploads removed.
	Uploads int
}

// GC collects the garbage of the registry's directory, as the function
// GC does, and also forgets the saved state of the uploads it removes.
// It returns the errors the function GC returns.
func (r *Registry) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	if opts.UploadMaxAge == 0 {
		opts.UploadMaxAge = r.opts.UploadMaxAge
	}
	res, err := gc(ctx, r.fs, r.dir, opts, r.gcHook)
	r.dropUploadStates()
	return res, err
}

// gcSweepBatch is the most blobs whose content the garbage collector
// removes in one span of its exclusive lock.
const gcSweepBatch = 256

// GC deletes what nothing refers to from the registry in dir. It marks
// every manifest reachable from the tags of every repository (and, unless
// opts.DeleteUntagged is set, every manifest), the children of marked
// indexes, the referrers of marked manifests, and the configs and layers
// of marked manifests. Then it removes each repository's links to blobs
// that no marked manifest of that repository refers to, and the content
// of blobs that neither a marked manifest nor a remaining link refers to.
// Nothing modified within opts.GracePeriod is removed, and stale uploads
// (opts.UploadMaxAge) are removed too.
//
// GC is safe while Registry values serve and push into dir, in this
// process or another, and lets them carry on meanwhile: it marks with no
// lock held, and removes under an exclusive flock (gc.lock) that every
// push takes shared while it makes links, held for one repository or
// one batch of blobs at a time, never across an fsync. A push touches
// what it links, and a repository that gained manifests or tags since
// the marking began keeps its links this time round.
//
// It returns an error when the directory cannot be read, the lock
// cannot be taken or ctx is done (what it deleted before then stays
// deleted), and an error joining the failures to remove or fsync once it
// has removed what it could: content whose links' removal could not be
// made durable is kept.
func GC(ctx context.Context, dir string, opts GCOptions) (GCResult, error) {
	return gc(ctx, osFS{}, dir, opts, nil)
}

func gc(ctx context.Context, fs fsys, dir string, opts GCOptions, hook func()) (GCResult, error) {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGCGracePeriod
	}
	if opts.UploadMaxAge <= 0 {
		opts.UploadMaxAge = DefaultUploadMaxAge
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return GCResult{}, fmt.Errorf("ocifs: gc: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "repos")); err != nil {
		return GCResult{}, fmt.Errorf("ocifs: gc: %s is not a registry: %w", dir, err)
	}
	// File times come from a coarse clock that may lag time.Now by a
	// tick; taking the start a little early keeps the comparisons
	// between the two on the safe side.
	start := time.Now().Add(-clockSlack)
	g := &collector{
		fs:     fs,
		dir:    dir,
		opts:   opts,
		start:  start,
		cutoff: start.Add(-opts.GracePeriod),
		marked: make(map[ociregistry.Digest]bool),
		hook:   hook,
	}
	if err := g.mark(ctx); err != nil {
		return GCResult{}, err
	}
	if opts.DryRun {
		for _, plan := range g.repos {
			g.result.BlobLinks += len(plan.blobLinks)
			g.result.Manifests += len(plan.manifests)
		}
		if err := g.sweepBlobs(ctx); err != nil {
			return g.result, err
		}
		g.result.Uploads, _ = removeStale(fs, dir, time.Now(), opts.UploadMaxAge, true)
		return g.result, nil
	}
	for _, plan := range g.repos {
		if err := g.sweepRepo(ctx, plan); err != nil {
			return g.result, err
		}
	}
	if err := g.sweepBlobs(ctx); err != nil {
		return g.result, err
	}
	n, err := removeStale(fs, dir, time.Now(), opts.UploadMaxAge, false)
	g.result.Uploads = n
	if err != nil {
		g.errs = append(g.errs, err)
	}
	if len(g.errs) > 0 {
		return g.result, fmt.Errorf("ocifs: gc: %w", errors.Join(g.errs...))
	}
	return g.result, nil
}

type collector struct {
	fs     fsys
	dir    string
	opts   GCOptions
	start  time.Time
	cutoff time.Time

	// marked holds the digests of the content that stays.
	marked map[ociregistry.Digest]bool

	repos  []*repoPlan
	result GCResult
	// errs are the failures to remove or fsync.
	errs []error
	// hook, when set, is called each time the exclusive lock has
	// been released; tests use it to act while the collector runs.
	hook func()
}

// repoPlan is what the marking found garbage in one repository.
type repoPlan struct {
	rdir string
	// blobLinks are the paths of links to blobs that nothing in the
	// repository refers to.
	blobLinks []string
	// manifests are the untagged manifests to delete.
	manifests []*gcManifest
	// orphans are the paths of sha512 manifest links without their
	// sha256 link.
	orphans []string
	// keep holds what the repository's garbage refers to, marked
	// should the repository turn out to be busy.
	keep []ociregistry.Digest
}

type gcManifest struct {
	d256, d512 ociregistry.Digest
	link       time.Time
	pm         *ocimanifest.Parsed
}

func (g *collector) mark(ctx context.Context) error {
	names, err := allRepoDirs(g.dir)
	if err != nil {
		return fmt.Errorf("ocifs: gc: %w", err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		rdir, err := repoDir(g.dir, name)
		if err != nil {
			continue
		}
		g.markRepo(rdir)
	}
	return nil
}

// markRepo marks what one repository refers to and plans the removal of
// its garbage.
func (g *collector) markRepo(rdir string) {
	plan := &repoPlan{rdir: rdir}
	manifests := g.readManifests(rdir)
	live, referenced := g.markLive(rdir, manifests)
	for d, m := range manifests {
		if live[d] {
			continue
		}
		plan.manifests = append(plan.manifests, m)
		plan.keep = append(plan.keep, d)
		if m.pm != nil {
			for _, b := range m.pm.Blobs {
				plan.keep = append(plan.keep, b.Digest)
			}
		}
	}
	g.planOrphans(plan, manifests)
	g.planBlobLinks(plan, referenced)
	if len(plan.blobLinks) > 0 || len(plan.manifests) > 0 || len(plan.orphans) > 0 {
		g.repos = append(g.repos, plan)
	}
}

// readManifests returns the manifests of the repository at rdir, by
// their sha256 digest, parsed.
func (g *collector) readManifests(rdir string) map[ociregistry.Digest]*gcManifest {
	manifests := make(map[ociregistry.Digest]*gcManifest)
	for _, e := range readDigestDir(filepath.Join(rdir, "_manifests", "sha256"), "sha256") {
		m := &gcManifest{d256: e.dig, link: e.mtime}
		dp, _ := digestPath(m.d256)
		sd, err := readDescriptor(manifestLink(rdir, dp))
		if err != nil {
			continue
		}
		if data, err := os.ReadFile(g.blobFile(m.d256)); err == nil {
			m.d512 = digest.SHA512.FromBytes(data)
			m.pm, _ = ocimanifest.Parse(data, sd.MediaType)
		}
		manifests[m.d256] = m
	}
	return manifests
}

// markLive marks what the repository at rdir keeps: its tagged
// manifests (and, unless untagged ones are deleted, every manifest one
// younger than the cutoff), their children and blobs, and the referrers
// of what it keeps, recursively. It returns the live manifests and the
// blobs they refer to.
func (g *collector) markLive(rdir string, manifests map[ociregistry.Digest]*gcManifest) (live, referenced map[ociregistry.Digest]bool) {
	live = make(map[ociregistry.Digest]bool)
	referenced = make(map[ociregistry.Digest]bool)
	var queue []ociregistry.Digest
	keep := func(d ociregistry.Digest) {
		if !live[d] {
			live[d] = true
			queue = append(queue, d)
		}
	}
	tags, _ := os.ReadDir(filepath.Join(rdir, "_tags"))
	for _, t := range tags {
		if sd, err := readDescriptor(filepath.Join(rdir, "_tags", t.Name())); err == nil {
			keep(sd.content())
		}
	}
	for d, m := range manifests {
		if !g.opts.DeleteUntagged || !m.link.Before(g.cutoff) {
			keep(d)
		}
	}
	for {
		for len(queue) > 0 {
			d := queue[0]
			queue = queue[1:]
			g.marked[d] = true
			m := manifests[d]
			if m == nil || m.pm == nil {
				continue
			}
			for _, b := range m.pm.Blobs {
				referenced[b.Digest] = true
				g.marked[b.Digest] = true
			}
			for _, c := range m.pm.Children {
				keep(canonical(manifests, c.Digest))
			}
		}
		// The referrers of what stays stay too, and what they refer
		// to; repeat until nothing more is found.
		for d, m := range manifests {
			if !live[d] && m.pm != nil && m.pm.Subject != nil && live[canonical(manifests, m.pm.Subject.Digest)] {
				keep(d)
			}
		}
		if len(queue) == 0 {
			return live, referenced
		}
	}
}

// planOrphans adds to plan the sha512 links of the repository without
// their sha256 one, older than the cutoff: a crash in the middle of a
// push or a delete leaves them, and their manifest does not exist.
func (g *collector) planOrphans(plan *repoPlan, manifests map[ociregistry.Digest]*gcManifest) {
	for _, e := range readDigestDir(filepath.Join(plan.rdir, "_manifests", "sha512"), "sha512") {
		dp, _ := digestPath(e.dig)
		path := manifestLink(plan.rdir, dp)
		sd, err := readDescriptor(path)
		if err == nil && manifests[sd.content()] != nil {
			continue
		}
		if err == nil && !e.mtime.Before(g.cutoff) {
			g.marked[sd.content()] = true
			continue
		}
		plan.orphans = append(plan.orphans, path)
		if err == nil {
			plan.keep = append(plan.keep, sd.content())
		}
	}
}

// planBlobLinks adds to plan the blob links of the repository that no
// live manifest refers to and that are older than the cutoff.
func (g *collector) planBlobLinks(plan *repoPlan, referenced map[ociregistry.Digest]bool) {
	algs, _ := os.ReadDir(filepath.Join(plan.rdir, "_blobs"))
	for _, a := range algs {
		for _, e := range readDigestDir(filepath.Join(plan.rdir, "_blobs", a.Name()), a.Name()) {
			if referenced[e.dig] || !e.mtime.Before(g.cutoff) {
				g.marked[e.dig] = true
				continue
			}
			dp, _ := digestPath(e.dig)
			plan.blobLinks = append(plan.blobLinks, blobLink(plan.rdir, dp))
			plan.keep = append(plan.keep, e.dig)
		}
	}
}

// canonical returns the sha256 digest of a manifest of the repository
// given by either of its digests.
func canonical(manifests map[ociregistry.Digest]*gcManifest, d ociregistry.Digest) ociregistry.Digest {
	if d.Algorithm() == digest.SHA256 {
		return d
	}
	for _, m := range manifests {
		if m.d512 == d {
			return m.d256
		}
	}
	return d
}

// sweepRepo removes the garbage planned in one repository, unless the
// repository gained manifests or tags since the marking began: a new
// manifest may refer to what looked like garbage. It removes under the
// exclusive lock, which stops new pushes making links meanwhile, and
// fsyncs the directories it removed from once the lock is released. It
// returns an error only when the lock cannot be taken.
func (g *collector) sweepRepo(ctx context.Context, plan *repoPlan) error {
	unlock, err := lockExclusive(ctx, g.dir)
	if err != nil {
		return fmt.Errorf("ocifs: gc: %w", err)
	}
	dirs := g.sweepRepoLocked(plan)
	unlock()
	if g.hook != nil {
		g.hook()
	}
	// The removals must be durable before the content they referred
	// to goes, or a crash could bring back a link to nothing.
	failed := false
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := g.fs.syncDir(d); err != nil && !notFound(err) {
			g.errs = append(g.errs, err)
			failed = true
		}
	}
	if failed {
		for _, d := range plan.keep {
			g.marked[d] = true
		}
	}
	return nil
}

// sweepRepoLocked removes what sweepRepo does, and returns the
// directories it removed from.
func (g *collector) sweepRepoLocked(plan *repoPlan) map[string]bool {
	dirs := make(map[string]bool)
	if g.busy(plan.rdir) {
		for _, d := range plan.keep {
			g.marked[d] = true
		}
		return dirs
	}
	// remove removes the file at p if it was not modified within the
	// grace period, and reports whether it did.
	remove := func(p string) bool {
		fi, err := os.Stat(p)
		if err != nil || !fi.ModTime().Before(g.cutoff) {
			return false
		}
		if err := g.fs.remove(p); err != nil {
			if !notFound(err) {
				g.errs = append(g.errs, err)
			}
			return false
		}
		dirs[filepath.Dir(p)] = true
		return true
	}
	// A manifest pushed again since the marking stays, and so do
	// the links to its blobs.
	protected := make(map[ociregistry.Digest]bool)
	for _, m := range plan.manifests {
		if g.deleteManifest(plan.rdir, m, remove) {
			g.result.Manifests++
			continue
		}
		g.marked[m.d256] = true
		if m.pm != nil {
			for _, b := range m.pm.Blobs {
				g.marked[b.Digest] = true
				protected[b.Digest] = true
			}
		}
	}
	for _, p := range plan.orphans {
		if remove(p) {
			continue
		}
		if sd, err := readDescriptor(p); err == nil {
			g.marked[sd.content()] = true
		}
	}
	for _, p := range plan.blobLinks {
		d, ok := linkDigest(p)
		if ok && protected[d] {
			continue
		}
		if remove(p) {
			g.result.BlobLinks++
			continue
		}
		if ok {
			g.marked[d] = true
		}
	}
	return dirs
}

// busy reports whether the repository at rdir gained manifests or tags
// since the marking began.
func (g *collector) busy(rdir string) bool {
	for _, d := range []string{"_tags", "_manifests/sha256", "_manifests/sha512"} {
		if fi, err := os.Stat(filepath.Join(rdir, d)); err == nil && !fi.ModTime().Before(g.start) {
			return true
		}
	}
	return false
}

// deleteManifest removes an untagged manifest from a repository with
// remove unless it was pushed again since the marking, and reports
// whether it did.
func (g *collector) deleteManifest(rdir string, m *gcManifest, remove func(string) bool) bool {
	dp, _ := digestPath(m.d256)
	fi, err := os.Stat(manifestLink(rdir, dp))
	if err != nil || !fi.ModTime().Before(g.cutoff) {
		return false
	}
	if m.d512 != "" {
		dp512, _ := digestPath(m.d512)
		remove(manifestLink(rdir, dp512))
	}
	if !remove(manifestLink(rdir, dp)) {
		return false
	}
	if m.pm != nil && m.pm.Subject != nil {
		sdp, _ := digestPath(m.pm.Subject.Digest)
		primary := m.d256
		if m.pm.Algorithm == digest.SHA512 {
			primary = m.d512
		}
		remove(filepath.Join(referrerDir(rdir, sdp), referrerName(primary)))
	}
	return true
}

// blobCandidate is a blob whose content looked like garbage.
type blobCandidate struct {
	dir string
	dig ociregistry.Digest
}

// sweepBlobs removes the content of every blob that is not marked and has
// not been modified within the grace period, a batch at a time under the
// exclusive lock. A push touches the content it links, under the lock
// the sweep holds, so a blob linked since the marking began is never
// removed. In a dry run it only counts.
func (g *collector) sweepBlobs(ctx context.Context) error {
	algs, err := os.ReadDir(filepath.Join(g.dir, "blobs"))
	if err != nil {
		return fmt.Errorf("ocifs: gc: %w", err)
	}
	var cands []blobCandidate
	for _, a := range algs {
		adir := filepath.Join(g.dir, "blobs", a.Name())
		for _, e := range readDigestDir(adir, a.Name()) {
			if !g.marked[e.dig] && e.mtime.Before(g.cutoff) {
				cands = append(cands, blobCandidate{adir, e.dig})
			}
		}
	}
	dirs := make(map[string]bool)
	for len(cands) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch := cands[:min(len(cands), gcSweepBatch)]
		cands = cands[len(batch):]
		unlock := func() {}
		if !g.opts.DryRun {
			unlock, err = lockExclusive(ctx, g.dir)
			if err != nil {
				return fmt.Errorf("ocifs: gc: %w", err)
			}
		}
		for _, c := range batch {
			p := filepath.Join(c.dir, c.dig.Encoded())
			fi, err := os.Stat(p)
			if err != nil || !fi.ModTime().Before(g.cutoff) {
				continue
			}
			if !g.opts.DryRun {
				if err := g.fs.remove(p); err != nil {
					if !notFound(err) {
						g.errs = append(g.errs, err)
					}
					continue
				}
				dirs[c.dir] = true
			}
			g.result.Blobs = append(g.result.Blobs, c.dig)
			g.result.BytesFreed += fi.Size()
		}
		unlock()
		if g.hook != nil && !g.opts.DryRun {
			g.hook()
		}
	}
	// Content whose removal a crash undoes is garbage again, so these
	// fsyncs need not come before anything; a failure is reported.
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := g.fs.syncDir(d); err != nil {
			g.errs = append(g.errs, err)
		}
	}
	slices.Sort(g.result.Blobs)
	return nil
}

func (g *collector) blobFile(d ociregistry.Digest) string {
	return filepath.Join(g.dir, "blobs", string(d.Algorithm()), d.Encoded())
}

type digestEntry struct {
	dig   ociregistry.Digest
	mtime time.Time
}

// readDigestDir returns the files of a directory of files named by the
// hex part of digests of the algorithm alg, skipping any other file.
func readDigestDir(dir, alg string) []digestEntry {
	entries, _ := os.ReadDir(dir)
	var out []digestEntry
	for _, e := range entries {
		d := ociregistry.Digest(alg + ":" + e.Name())
		if e.IsDir() || ociregistry.CheckDigest(d) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, digestEntry{dig: d, mtime: fi.ModTime()})
	}
	return out
}

// linkDigest returns the digest that a link's path names.
func linkDigest(p string) (ociregistry.Digest, bool) {
	d := ociregistry.Digest(filepath.Base(filepath.Dir(p)) + ":" + filepath.Base(p))
	return d, ociregistry.CheckDigest(d) == nil
}

// allRepoDirs returns the names of every repository directory, whether
// or not the repository holds anything.
func allRepoDirs(root string) ([]string, error) {
	var names []string
	var walk func(dir, name string) error
	walk = func(dir, name string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if notFound(err) {
				return nil
			}
			return err
		}
		isRepo := false
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, "_") {
				isRepo = true
				continue
			}
			if !e.IsDir() {
				continue
			}
			child := n
			if name != "" {
				child = name + "/" + n
			}
			if ociregistry.IsValidRepository(child) {
				if err := walk(filepath.Join(dir, n), child); err != nil {
					return err
				}
			}
		}
		if isRepo && name != "" {
			names = append(names, name)
		}
		return nil
	}
	err := walk(filepath.Join(root, "repos"), "")
	slices.Sort(names)
	return names, err
}
