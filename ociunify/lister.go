package ociunify

import (
	"context"
	"iter"

	"github.com/ocireg/ociregistry"
)

// Repositories yields the repositories of both registries, merged in
// lexical order without duplicates. It yields the error of either
// registry, and stops there.
func (u *unifier) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return merge(u.r0.Repositories(ctx, startAfter), u.r1.Repositories(ctx, startAfter), identity)
}

// Tags yields the tags of repo in both registries, merged in lexical
// order without duplicates. A repository that one registry does not
// know counts as one without tags; when neither knows it, Tags yields
// the first registry's error, which Is ociregistry.ErrNameUnknown. Any
// other error of either registry is yielded, and ends the sequence.
func (u *unifier) Tags(ctx context.Context, repo string, startAfter string) iter.Seq2[string, error] {
	return merge(u.r0.Tags(ctx, repo, startAfter), u.r1.Tags(ctx, repo, startAfter), identity)
}

// Referrers yields the referrers of dg in both registries, merged in
// order of digest without duplicates. Errors are yielded as Tags does.
func (u *unifier) Referrers(ctx context.Context, repo string, dg ociregistry.Digest, artifactType string) iter.Seq2[ociregistry.Descriptor, error] {
	return merge(u.r0.Referrers(ctx, repo, dg, artifactType), u.r1.Referrers(ctx, repo, dg, artifactType), descriptorDigest)
}

func identity(s string) string { return s }

func descriptorDigest(d ociregistry.Descriptor) string { return string(d.Digest) }

// merge yields the values of s0 and s1, both sorted by key, in order of
// key, yielding a value whose key is in both once, from s0. It pulls one
// value at a time from each, so that neither is held whole.
//
// A sequence that starts with a "not found" error counts as empty,
// unless both do, when the error of s0 is yielded. Any other error is
// yielded and ends the merged sequence.
func merge[T any](s0, s1 iter.Seq2[T, error], key func(T) string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		next0, stop0 := iter.Pull2(s0)
		defer stop0()
		next1, stop1 := iter.Pull2(s1)
		defer stop1()

		// pull returns the next value of a sequence and whether
		// there was one.
		pull := func(next func() (T, error, bool)) (T, bool, error) {
			x, err, ok := next()
			if !ok || err != nil {
				return zero, false, err
			}
			return x, true, nil
		}

		x0, ok0, err0 := pull(next0)
		x1, ok1, err1 := pull(next1)
		switch {
		case err0 != nil && !ociregistry.IsNotFound(err0):
			yield(zero, sideErr(0, err0))
			return
		case err1 != nil && !ociregistry.IsNotFound(err1):
			yield(zero, sideErr(1, err1))
			return
		case err0 != nil && err1 != nil:
			yield(zero, err0)
			return
		}
		for ok0 || ok1 {
			var x T
			adv0, adv1 := false, false
			switch {
			case !ok1 || ok0 && key(x0) < key(x1):
				x, adv0 = x0, true
			case !ok0 || key(x1) < key(x0):
				x, adv1 = x1, true
			default:
				x, adv0, adv1 = x0, true, true
			}
			if !yield(x, nil) {
				return
			}
			if adv0 {
				if x0, ok0, err0 = pull(next0); err0 != nil {
					yield(zero, sideErr(0, err0))
					return
				}
			}
			if adv1 {
				if x1, ok1, err1 = pull(next1); err1 != nil {
					yield(zero, sideErr(1, err1))
					return
				}
			}
		}
	}
}
