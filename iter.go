package ociregistry

import "iter"

// All collects the values of seq into a slice. It returns the values
// yielded before the first error, and that error.
func All[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var xs []T
	for x, err := range seq {
		if err != nil {
			return xs, err
		}
		xs = append(xs, x)
	}
	return xs, nil
}

// SliceSeq returns a sequence that yields the elements of xs in order,
// with nil errors.
func SliceSeq[T any](xs []T) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for _, x := range xs {
			if !yield(x, nil) {
				return
			}
		}
	}
}

// ErrorSeq returns a sequence that yields err once, with T's zero value.
func ErrorSeq[T any](err error) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		yield(zero, err)
	}
}
