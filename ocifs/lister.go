package ocifs

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ocireg/ociregistry"
)

// Repositories yields, in lexical order, the repositories that sort after
// startAfter and hold at least one blob, manifest or tag. It walks the
// directory tree from startAfter on, with the listings of its
// directories cached (see listcache.go), so that a page costs about the
// repositories it yields.
func (r *Registry) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		r.walkRepos(ctx, filepath.Join(r.dir, "repos"), "", startAfter, func(name string, err error) bool {
			if err != nil {
				err = fmt.Errorf("ocifs: listing repositories: %w", err)
			}
			return yield(name, err)
		})
	}
}

// repoHolds reports whether the repository at rdir holds a blob, a
// manifest or a tag: a repository exists exactly when it holds something,
// as in ocimem.
func repoHolds(rdir string) bool {
	if nonEmpty(filepath.Join(rdir, "_tags")) {
		return true
	}
	for _, kind := range []string{"_blobs", "_manifests"} {
		algs, _ := os.ReadDir(filepath.Join(rdir, kind))
		for _, a := range algs {
			if nonEmpty(filepath.Join(rdir, kind, a.Name())) {
				return true
			}
		}
	}
	return false
}

func nonEmpty(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, _ := f.Readdirnames(1)
	return len(names) > 0
}

// Tags yields, in lexical order, the tags in repo that sort after
// startAfter. It yields an error that Is ociregistry.ErrNameInvalid for a
// bad repository name and ociregistry.ErrNameUnknown when repo does not
// exist.
func (r *Registry) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		rdir, err := repoDir(r.dir, repo)
		if err != nil {
			yield("", err)
			return
		}
		names, err := r.tagNames.load(filepath.Join(rdir, "_tags"), readTagNames)
		if err != nil && !notFound(err) {
			yield("", fmt.Errorf("ocifs: listing tags: %w", err))
			return
		}
		if len(names) == 0 && !repoHolds(rdir) {
			yield("", fmt.Errorf("repository %s: %w", repo, ociregistry.ErrNameUnknown))
			return
		}
		i, found := slices.BinarySearch(names, startAfter)
		if found {
			i++
		}
		for _, name := range names[i:] {
			if !yield(name, nil) {
				return
			}
		}
	}
}

// Referrers yields the descriptors of the manifests in repo whose subject
// is dig, ordered by digest, keeping only those of the given artifact type
// when it is not empty. A repository or digest that nothing refers to
// yields nothing. It yields an error that Is ociregistry.ErrNameInvalid
// or ociregistry.ErrDigestInvalid for a bad name or digest.
func (r *Registry) Referrers(ctx context.Context, repo string, dig ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return func(yield func(ociregistry.Descriptor, error) bool) {
		rdir, dp, err := checkRepoDigest(r.dir, repo, dig)
		if err != nil {
			yield(ociregistry.Descriptor{}, err)
			return
		}
		dir := referrerDir(rdir, dp)
		entries, err := os.ReadDir(dir)
		if err != nil && !notFound(err) {
			yield(ociregistry.Descriptor{}, fmt.Errorf("ocifs: listing referrers: %w", err))
			return
		}
		for _, e := range entries {
			rd, ok := referrerDigest(e.Name())
			if !ok {
				continue
			}
			// A referrer whose manifest is gone (or not there yet)
			// is not one.
			rdp, _ := digestPath(rd)
			if _, err := os.Stat(manifestLink(rdir, rdp)); err != nil {
				continue
			}
			desc, err := readReferrer(filepath.Join(dir, e.Name()))
			if err != nil {
				continue
			}
			if artifactType != "" && desc.ArtifactType != artifactType {
				continue
			}
			if !yield(desc, nil) {
				return
			}
		}
	}
}

// referrerDigest returns the digest of the referrer whose file in its
// subject's referrers directory has the given name.
func referrerDigest(name string) (ociregistry.Digest, bool) {
	alg, hex, ok := strings.Cut(name, "-")
	d := ociregistry.Digest(alg + ":" + hex)
	return d, ok && ociregistry.CheckDigest(d) == nil
}

// readReferrer reads a referrer's file.
func readReferrer(path string) (ociregistry.Descriptor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	var desc ociregistry.Descriptor
	if err := json.Unmarshal(data, &desc); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if ociregistry.CheckDigest(desc.Digest) != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("bad digest %q", desc.Digest)
	}
	return desc, nil
}
