package ocifs

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ocireg/ociregistry"
)

// Listing a page of tags or repositories must not cost reading every
// name there is: a directory of 100 000 tags takes tens of milliseconds
// to read and sort. The sorted names of each directory that listings
// read are therefore cached (in Registry.tagNames and Registry.repoDirs,
// fileCaches), checked against a stat of the directory on every use: a
// directory's modification time changes whenever an entry is added,
// removed or renamed in it, and a directory changed within clockSlack is
// not cached. A page is then a binary search and the names it yields.

// readTagNames returns the sorted names of the valid tags in dir.
func readTagNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		if ociregistry.IsValidTag(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, err
}

// repoEntry is an entry of a directory under repos/ in the order that
// Repositories yields: the repository named by the directory itself, or,
// when children is set, the repositories under it. Its key is its name
// relative to the directory, with "/" appended when children is set, so
// that sorting by key sorts the repositories yielded by name:
// repositories named "a", "a-b" and "a/b" come in that order, though
// the directory "a" comes before "a-b".
type repoEntry struct {
	key      string
	name     string
	children bool
}

// readRepoEntries returns the sorted repoEntries of the directories in
// dir that can be repository name components.
func readRepoEntries(dir string) ([]repoEntry, error) {
	entries, err := os.ReadDir(dir)
	var out []repoEntry
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() || strings.HasPrefix(n, "_") || !ociregistry.IsValidRepository(n) {
			continue
		}
		out = append(out, repoEntry{key: n, name: n}, repoEntry{key: n + "/", name: n, children: true})
	}
	slices.SortFunc(out, func(a, b repoEntry) int { return strings.Compare(a.key, b.key) })
	return out, err
}

// walkRepos yields, in lexical order, the names of the repositories that
// hold something in dir, whose name is prefix (ending in "/", or "" for
// the top), or under it, that sort after startAfter. It reports whether
// to carry on.
func (r *Registry) walkRepos(ctx context.Context, dir, prefix, startAfter string, yield func(string, error) bool) bool {
	entries, err := r.repoDirs.load(dir, readRepoEntries)
	if err != nil {
		if notFound(err) {
			return true
		}
		return yield("", err)
	}
	// The first entry that may yield a name after startAfter: the one
	// after the last key not after startAfter, or that one itself when
	// startAfter is a name under it.
	rel, under := strings.CutPrefix(startAfter, prefix)
	i := 0
	if under {
		i, _ = slices.BinarySearchFunc(entries, rel, func(e repoEntry, rel string) int {
			if e.key <= rel {
				return -1
			}
			return 1
		})
		if i > 0 && entries[i-1].children && strings.HasPrefix(rel, entries[i-1].key) {
			i--
		}
	} else if startAfter > prefix {
		// Every name here sorts before startAfter.
		return true
	}
	for _, e := range entries[i:] {
		if err := ctx.Err(); err != nil {
			return yield("", err)
		}
		name := prefix + e.name
		path := filepath.Join(dir, e.name)
		if e.children {
			if !r.walkRepos(ctx, path, name+"/", startAfter, yield) {
				return false
			}
			continue
		}
		if name > startAfter && len(name) <= ociregistry.MaxRepositoryLength && repoHolds(path) {
			if !yield(name, nil) {
				return false
			}
		}
	}
	return true
}
