package ocifilter

import "github.com/ocireg/ociregistry"

// LockedRepos returns how many repositories the Immutable registry r
// holds a lock for.
func LockedRepos(r ociregistry.Interface) int {
	return r.(*immutable).locks.Size()
}
