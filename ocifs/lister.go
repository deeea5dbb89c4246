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
// directory tree, so it costs time in proportion to the repositories.
func (r *Registry) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		names, err := listRepos(r.dir)
		if err != nil {
			yield("", fmt.Errorf("ocifs: listing repositories: %w", err))
			return
		}
		for _, name := range names {
			if name <= startAfter {
				continue
			}
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			if !yield(name, nil) {
				return
			}
		}
	}
}

// listRepos returns the sorted names of the non-empty repositories of the
// registry at root.
func listRepos(root string) ([]string, error) {
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
		if name != "" && repoHolds(dir) {
			names = append(names, name)
		}
		for _, e := range entries {
			n := e.Name()
			if !e.IsDir() || strings.HasPrefix(n, "_") {
				continue
			}
			child := n
			if name != "" {
				child = name + "/" + n
			}
			if !ociregistry.IsValidRepository(child) {
				continue
			}
			if err := walk(filepath.Join(dir, n), child); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(filepath.Join(root, "repos"), ""); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
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
		entries, err := os.ReadDir(filepath.Join(rdir, "_tags"))
		if err != nil && !notFound(err) {
			yield("", fmt.Errorf("ocifs: listing tags: %w", err))
			return
		}
		if len(entries) == 0 && !repoHolds(rdir) {
			yield("", fmt.Errorf("repository %s: %w", repo, ociregistry.ErrNameUnknown))
			return
		}
		// ReadDir sorts by name.
		for _, e := range entries {
			name := e.Name()
			if name <= startAfter || !ociregistry.IsValidTag(name) {
				continue
			}
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
