package ociregistry_test

import (
	"errors"
	"iter"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

func TestSliceSeqAndAll(t *testing.T) {
	xs, err := ociregistry.All(ociregistry.SliceSeq([]int{3, 1, 2}))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(xs, []int{3, 1, 2}))

	xs, err = ociregistry.All(ociregistry.SliceSeq[int](nil))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(xs, 0))

	// Breaking out of the loop stops the sequence.
	var got []int
	for x, err := range ociregistry.SliceSeq([]int{1, 2, 3, 4}) {
		qt.Assert(t, qt.IsNil(err))
		got = append(got, x)
		if x == 2 {
			break
		}
	}
	qt.Assert(t, qt.DeepEquals(got, []int{1, 2}))
}

func TestErrorSeq(t *testing.T) {
	errX := errors.New("x")
	n := 0
	for s, err := range ociregistry.ErrorSeq[string](errX) {
		qt.Assert(t, qt.Equals(s, ""))
		qt.Assert(t, qt.Equals(err, errX))
		n++
	}
	qt.Assert(t, qt.Equals(n, 1))

	xs, err := ociregistry.All(ociregistry.ErrorSeq[int](errX))
	qt.Assert(t, qt.Equals(err, errX))
	qt.Assert(t, qt.HasLen(xs, 0))
}

func TestAllStopsAtFirstError(t *testing.T) {
	errX := errors.New("x")
	pulled := 0
	seq := iter.Seq2[int, error](func(yield func(int, error) bool) {
		for i, err := range []error{nil, nil, errX, nil} {
			pulled++
			if !yield(i, err) {
				return
			}
		}
	})
	xs, err := ociregistry.All(seq)
	qt.Assert(t, qt.Equals(err, errX))
	qt.Assert(t, qt.DeepEquals(xs, []int{0, 1}))
	qt.Assert(t, qt.Equals(pulled, 3))
}
