package ocimem

import (
	"iter"
	"slices"
)

// nameIndex keeps the names of a set (tags, repositories) in lexical
// order, so that listing a page costs a binary search rather than a
// sort of every name. Names added since the order was last made are
// merged in when it is next needed; a removal makes that merge drop the
// names no longer in the set. The sorted slice is never modified once
// made, so that an iterator can hold it without the registry's lock.
// Its methods must be called with the registry's lock held.
type nameIndex struct {
	sorted  []string
	added   []string // not in sorted, in no order
	removed bool     // some names of sorted or added left the set

	// stale is set when sorted and added were dropped, so that the
	// order is made again from the set.
	stale bool
}

// add records that name joined the set, which now has size names.
func (x *nameIndex) add(name string, size int) {
	if x.stale {
		return
	}
	x.added = append(x.added, name)
	if len(x.added) > size {
		// Names added and removed over and over without a listing in
		// between: what added holds would grow without bound.
		x.sorted, x.added, x.stale = nil, nil, true
	}
}

// remove records that a name left the set.
func (x *nameIndex) remove() {
	x.removed = true
}

// list returns the names of the set in order; names yields the set's
// names and has reports whether a name is in it.
func (x *nameIndex) list(names iter.Seq[string], has func(string) bool) []string {
	switch {
	case x.stale:
		x.sorted = slices.Sorted(names)
		x.stale = false
	case len(x.added) > 0 || x.removed:
		slices.Sort(x.added)
		merged := make([]string, 0, len(x.sorted)+len(x.added))
		a, b := x.sorted, x.added
		for len(a) > 0 || len(b) > 0 {
			var next string
			if len(b) == 0 || len(a) > 0 && a[0] <= b[0] {
				next, a = a[0], a[1:]
			} else {
				next, b = b[0], b[1:]
			}
			// A name removed and added again is in both.
			if n := len(merged); n > 0 && merged[n-1] == next {
				continue
			}
			if x.removed && !has(next) {
				continue
			}
			merged = append(merged, next)
		}
		x.sorted = merged
	}
	x.added, x.removed = nil, false
	return x.sorted
}

// after returns the names of sorted that sort after startAfter.
func after(sorted []string, startAfter string) []string {
	i, found := slices.BinarySearch(sorted, startAfter)
	if found {
		i++
	}
	return sorted[i:]
}
