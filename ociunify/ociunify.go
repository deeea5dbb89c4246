// Package ociunify presents two registries as one: what either holds can
// be read, and what is written goes to both.
//
// Content addressed by digest is looked for in both registries, in the
// order that Options.ReadPolicy says. Tags are always looked up in both,
// because a tag can move: when the two registries point the same tag at
// different manifests, the lookup fails with an error that Is
// ErrInconsistent instead of silently picking one. Writes go to both
// registries at once and fail when either fails. Listings are the merge
// of both, in lexical order and without duplicates, computed as they are
// consumed so that neither registry's list is ever held in memory whole.
// Deletes go to both, and succeed when at least one of them deleted the
// content and the other deleted it too or did not hold it.
//
// A failed write may have landed in one of the registries: the Interface
// has no transactions, and undoing the write could remove content that
// was there before. Such a divergence shows up as ErrInconsistent when it
// concerns a tag, and is otherwise harmless (content addressed by digest
// is the same wherever it is).
package ociunify

import (
	"errors"
	"sync"

	"github.com/ocireg/ociregistry"
)

// ErrInconsistent is the error, wrapped with the details, that a tag
// lookup answers when the two registries point the same tag at
// different manifests. It is an ociregistry.Error with the code UNKNOWN,
// which a server sends as an internal error (500), since the client did
// nothing wrong, with its words, since they say what is wrong.
var ErrInconsistent error = inconsistentError{}

type inconsistentError struct{}

func (inconsistentError) Error() string { return "ociunify: registries are inconsistent" }
func (inconsistentError) Code() string  { return "UNKNOWN" }
func (inconsistentError) Detail() any   { return nil }

// ReadPolicy says how content addressed by digest is read.
type ReadPolicy int

const (
	// ReadSequential asks the first registry, and the second only
	// when the first does not have the content. It is the default.
	ReadSequential ReadPolicy = iota

	// ReadConcurrent asks both registries at once and takes the first
	// successful answer; the other request is cancelled and its
	// content, if any, closed unread.
	ReadConcurrent
)

// Options holds the settings of a unified registry. The zero value, or
// a nil *Options, is the default.
type Options struct {
	// ReadPolicy says how content addressed by digest is read.
	ReadPolicy ReadPolicy
}

// New returns a registry that presents r0 and r1 as one, as the package
// documentation describes. Where the two registries answer differently
// for the same content, the answer of r0 is returned.
func New(r0, r1 ociregistry.Interface, opts *Options) ociregistry.Interface {
	u := &unifier{r0: r0, r1: r1}
	if opts != nil {
		u.opts = *opts
	}
	return u
}

// unifier implements ociregistry.Interface over two registries. It
// embeds a nil *ociregistry.Funcs so that a method added to the
// Interface answers ErrUnsupported until unifier learns it, rather than
// reaching one registry only.
type unifier struct {
	*ociregistry.Funcs
	r0, r1 ociregistry.Interface
	opts   Options
}

// both calls f for r0 and r1 concurrently and returns their results.
func both[T any](u *unifier, f func(r ociregistry.Interface) (T, error)) (x0, x1 T, err0, err1 error) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		x1, err1 = f(u.r1)
	}()
	x0, err0 = f(u.r0)
	wg.Wait()
	return x0, x1, err0, err1
}

// joinWrite combines the results of a write to both registries: the
// result of r0 when both succeeded, else the errors of the ones that
// failed.
func joinWrite[T any](x0 T, err0, err1 error) (T, error) {
	if err0 == nil && err1 == nil {
		return x0, nil
	}
	var zero T
	return zero, errors.Join(sideErr(0, err0), sideErr(1, err1))
}

// sideErr marks err as coming from registry i, or returns nil.
func sideErr(i int, err error) error {
	if err == nil {
		return nil
	}
	return &registryErr{i: i, err: err}
}

// registryErr is an error from one of the two registries. Its message
// says which, its chain is the original error's.
type registryErr struct {
	i   int
	err error
}

func (e *registryErr) Error() string {
	if e.i == 0 {
		return "r0: " + e.err.Error()
	}
	return "r1: " + e.err.Error()
}

func (e *registryErr) Unwrap() error { return e.err }
