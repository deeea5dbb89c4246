// Package ocifs is a durable, crash-safe OCI registry stored in a local
// directory: an ociregistry.Interface whose content survives restarts and
// crashes, and whose disk use reflects unique content, not copies.
//
// # Layout
//
// Everything lives under the directory given to New:
//
//	blobs/<alg>/<hex>                         content of every blob and manifest, once per digest
//	repos/<repo>/_blobs/<alg>/<hex>           link: the repository holds this blob (holds its media type)
//	repos/<repo>/_manifests/<alg>/<hex>       link: the repository holds this manifest (JSON descriptor)
//	repos/<repo>/_tags/<tag>                  the tag's manifest (JSON descriptor)
//	repos/<repo>/_referrers/<alg>/<hex>/<alg>-<hex>
//	                                          a manifest whose subject is <alg>:<hex> (JSON descriptor)
//	uploads/<id>/data, uploads/<id>/info      a chunked upload in progress and its repository
//	tmp/                                      files being written
//	gc.lock, gc.gate                          taken by the garbage collector (see GC)
//	locks/repo-<hash>                         a repository's lock (see Concurrency)
//
// <repo> is the repository name with its slashes as directory separators.
// Repository names are checked with ociregistry.CheckRepository, whose
// grammar allows no "..", no leading "." or "_" and no absolute path, and
// are checked again component by component before any path is made, so
// no name can reach outside the directory. Directories of the registry's
// own start with "_", which no repository name component can.
//
// A manifest is stored as a blob under its sha256 digest; its link under
// _manifests exists for both its sha256 and its sha512 digest, so that it
// can be fetched by either, and each link's descriptor names the sha256
// content.
//
// # Durability
//
// Every file is written in tmp/, fsynced, renamed into place and its
// directory fsynced, and the steps of a push happen in an order that keeps
// what is visible consistent: a blob's content before its link, a
// manifest's blobs before the manifest, the manifest before the tag. A tag
// moves by one rename. After a crash at any instant every tag therefore
// resolves to a complete manifest whose blobs are present and verify, and
// nothing under tmp/ or uploads/ is ever served. Check verifies this.
//
// Chunked uploads keep their data under uploads/, so an upload can be
// resumed by a new Registry on the same directory after a restart.
// Uploads left alone for longer than Options.UploadMaxAge are removed.
//
// # Serving
//
// GetBlob hands out the blob's *os.File (with its WriteTo), so that
// net/http sends it with sendfile; GetBlobRange seeks to the start of the
// range and its WriteTo hands the connection an *io.LimitedReader of the
// file, which sendfile takes too. Nothing is hashed on the way out. The
// small files that tag, manifest and blob requests read are cached in
// memory, checked against a stat of the file on every use; manifest
// content is cached by digest. A request thus costs a stat or two.
//
// # Garbage
//
// DeleteBlob and DeleteManifest remove links; the content goes when GC
// finds nothing referring to it, safely while Registry values are pushing,
// which carry on meanwhile: GC takes its exclusive lock for one
// repository or one batch of blobs at a time, never across an fsync.
//
// # Errors
//
// As with ocimem, blob operations answer an error that Is
// ociregistry.ErrBlobUnknown and manifest and tag operations one that Is
// ociregistry.ErrManifestUnknown for unknown content, even when the
// repository does not exist; only Tags answers ociregistry.ErrNameUnknown.
// Errors of the file system (a full disk, say) are returned wrapped, so
// that errors.Is(err, syscall.ENOSPC) holds.
//
// # Concurrency
//
// A Registry is safe for concurrent use, and Registry values in one
// process or in several may share a directory. Every change is an atomic
// rename, and the changes that must not interleave are serialised by
// locks that live in the directory, so that they hold between processes
// as within one: a repository's manifests and tags are locked by a flock
// on locks/repo-<hash of its name> (one lock per repository, never
// shared with another), so that a DeleteManifest and a tagged
// PushManifest of the same manifest, through any two Registry values,
// never leave a tag pointing at a manifest that is gone. Locks are held
// for short spans and never while a caller's io.Reader is read, and a
// call whose context is done stops waiting for one (flock cannot be
// interrupted, so waiting for one polls).
//
// Every file operation that changes the directory goes through a small
// internal interface, so that a test can stand in a file system that
// forgets, at a simulated power cut, what was not fsynced; the test cuts
// the power before every operation of pushes, tag moves, deletes and a
// garbage collection, and checks the directory as a restarted registry
// finds it.
package ocifs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// DefaultUploadMaxAge is the Options.UploadMaxAge used when it is zero.
const DefaultUploadMaxAge = 24 * time.Hour

// Options holds the settings of a Registry. The zero value, like a nil
// *Options, gives the defaults.
type Options struct {
	// UploadMaxAge is how long a chunked upload may go without a write
	// before it is abandoned and its data removed. Zero means
	// DefaultUploadMaxAge.
	UploadMaxAge time.Duration

	// LaxChildReferences, when true, lets manifests be pushed whose
	// config, layers or child manifests are not in the repository.
	LaxChildReferences bool
}

// Registry is a registry stored in a directory. Its methods are those of
// ociregistry.Interface; the embedded *ociregistry.Funcs is always nil and
// only there so that Registry satisfies the Interface.
type Registry struct {
	*ociregistry.Funcs

	dir  string
	opts Options

	// fs makes every change to the directory.
	fs fsys

	// repoLocks serialise the changes to a repository's manifests and
	// tags, so that a tag never points at a manifest being deleted:
	// in this process through keyed locks, and with every other
	// Registry on the directory through flocks on files in locks/.
	repoLocks keyedLocks

	// descs caches the descriptors in tag and manifest link files,
	// blobTypes the media types in blob link files, and manifests the
	// content of manifests.
	descs     fileCache[storedDescriptor]
	blobTypes fileCache[string]
	manifests contentCache

	// tagNames and repoDirs cache directory listings (see
	// listcache.go).
	tagNames fileCache[[]string]
	repoDirs fileCache[[]repoEntry]

	// gcLock keeps the garbage collector out while links are made.
	gcLock *sharedLock

	// uploadsMu guards uploads and lastClean.
	uploadsMu sync.Mutex
	// uploads holds the hash state of uploads closed by this Registry,
	// so that resuming one does not hash its data again.
	uploads   map[string]uploadState
	lastClean time.Time

	// wrapWriter, when set, wraps every writer of file content; tests
	// use it to simulate a full disk.
	wrapWriter func(w io.Writer) io.Writer
	// fault, when set, is called before every fsync, close and rename
	// of a push (op is "fsync", "close", "rename" or "syncdir", path
	// the file or directory), and its error is returned as if the
	// operation had failed: tests use it to simulate a full disk or
	// failing device at those steps, which wrapWriter cannot reach.
	fault func(op, path string) error
	// gcHook, when set, is passed to the garbage collector that GC
	// runs, which calls it each time it releases its exclusive lock.
	gcHook func()
}

var _ ociregistry.Interface = (*Registry)(nil)

// New returns a Registry stored in dir, creating dir and its layout when
// they do not exist. It removes uploads older than opts.UploadMaxAge and
// files left in tmp/ by writers that died. It returns an error when dir
// cannot be created or is not a directory.
func New(dir string, opts *Options) (*Registry, error) {
	return newRegistry(dir, opts, osFS{})
}

// newRegistry is New with the fsys that makes every change.
func newRegistry(dir string, opts *Options, fs fsys) (*Registry, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("ocifs: %w", err)
	}
	r := &Registry{
		dir:     abs,
		fs:      fs,
		uploads: make(map[string]uploadState),
	}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.UploadMaxAge <= 0 {
		r.opts.UploadMaxAge = DefaultUploadMaxAge
	}
	for _, sub := range []string{"", "blobs", "repos", "uploads", "tmp"} {
		if err := mkdirAll(fs, filepath.Join(abs, sub)); err != nil {
			return nil, fmt.Errorf("ocifs: creating registry directory: %w", err)
		}
	}
	r.gcLock = newSharedLock(abs)
	r.cleanStale(time.Now())
	return r, nil
}

// Dir returns the registry's directory.
func (r *Registry) Dir() string { return r.dir }

// lockRepo locks the repository's manifests and tags against every
// Registry on the directory and returns the function that unlocks them.
// It stops waiting when ctx is done, returning ctx's error.
func (r *Registry) lockRepo(ctx context.Context, repo string) (func(), error) {
	unlock, err := r.repoLocks.lock(ctx, repo)
	if err != nil {
		return nil, err
	}
	funlock, err := lockFile(ctx, repoLockPath(r.dir, repo))
	if err != nil {
		unlock()
		return nil, err
	}
	return func() {
		funlock()
		unlock()
	}, nil
}

// repoLockPath returns the lock file of a repository: named by a hash of
// the name, so that any name makes a short, safe file name, and
// unrelated repositories do not share a lock but by a 64-bit collision.
func repoLockPath(root, repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(root, "locks", "repo-"+hex.EncodeToString(sum[:8]))
}

// repoDir returns the directory of a repository after checking its name.
// It returns an error that Is ociregistry.ErrNameInvalid for a bad name.
func repoDir(root, repo string) (string, error) {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return "", err
	}
	// The grammar already rules out every component below; checking
	// again keeps the directory safe should the grammar ever loosen.
	for _, c := range strings.Split(repo, "/") {
		if c == "" || c == "." || c == ".." || c[0] == '.' || c[0] == '_' || strings.ContainsAny(c, `\:`+"\x00") {
			return "", fmt.Errorf("repository name %q has an unsafe component: %w", repo, ociregistry.ErrNameInvalid)
		}
	}
	if !filepath.IsLocal(repo) {
		return "", fmt.Errorf("repository name %q is not a local path: %w", repo, ociregistry.ErrNameInvalid)
	}
	return filepath.Join(root, "repos", filepath.FromSlash(repo)), nil
}

// digestPath returns <alg>/<hex> for a digest after checking it. It
// returns an error that Is ociregistry.ErrDigestInvalid for a bad digest.
func digestPath(d ociregistry.Digest) (string, error) {
	if err := ociregistry.CheckDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(string(d.Algorithm()), d.Encoded()), nil
}

// tagPath returns the file of a tag after checking it. It returns an
// error that Is ociregistry.ErrManifestInvalid for a bad tag.
func tagPath(rdir, tag string) (string, error) {
	if err := ociregistry.CheckTag(tag); err != nil {
		return "", err
	}
	if tag[0] == '.' || strings.ContainsAny(tag, `/\`) {
		return "", fmt.Errorf("unsafe tag %q: %w", tag, ociregistry.ErrManifestInvalid)
	}
	return filepath.Join(rdir, "_tags", tag), nil
}

func (r *Registry) blobFile(dp string) string {
	return filepath.Join(r.dir, "blobs", dp)
}

func blobLink(rdir, dp string) string {
	return filepath.Join(rdir, "_blobs", dp)
}

func manifestLink(rdir, dp string) string {
	return filepath.Join(rdir, "_manifests", dp)
}

func referrerDir(rdir, subjectPath string) string {
	return filepath.Join(rdir, "_referrers", subjectPath)
}

// referrerName returns the name of a referrer's file in its subject's
// referrer directory.
func referrerName(d ociregistry.Digest) string {
	return string(d.Algorithm()) + "-" + d.Encoded()
}

// isNotExist reports whether err says a file or one of its directories
// does not exist.
func isNotExist(err error) bool {
	return errors.Is(err, os.ErrNotExist)
}
