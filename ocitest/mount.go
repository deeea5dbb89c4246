package ocitest

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

var mountTests = []test{
	{"Present", testMountPresent},
	{"Absent", testMountAbsent},
}

func testMountPresent(t *testing.T, s Suite) {
	if s.NoMount {
		t.Skip("Suite.NoMount")
	}
	r := s.newRegistry(t)
	data := []byte("mounted content")
	dig := PushBlob(t, r, "test/from", data).Digest
	desc, err := r.MountBlob(t.Context(), "test/from", "test/to", dig)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, dig))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	assertBlob(t, r, "test/to", dig, data)
	assertBlob(t, r, "test/from", dig, data)

	// Mounting what is already there is not an error.
	_, err = r.MountBlob(t.Context(), "test/from", "test/to", dig)
	qt.Assert(t, qt.IsNil(err))
	assertBlob(t, r, "test/to", dig, data)
}

func testMountAbsent(t *testing.T, s Suite) {
	if s.NoMount {
		t.Skip("Suite.NoMount")
	}
	r := s.newRegistry(t)
	PushBlob(t, r, "test/from", []byte("keeps from in existence"))
	PushBlob(t, r, "test/to", []byte("keeps to in existence"))
	absent := Digest([]byte("never pushed"))
	_, err := r.MountBlob(t.Context(), "test/from", "test/to", absent)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown)
	assertNoBlob(t, r, "test/to", absent)

	if s.SingleRepository {
		return
	}
	// A blob that is in the target but not the source is still not
	// there to mount.
	inTo := PushBlob(t, r, "test/to", []byte("only in to")).Digest
	_, err = r.MountBlob(t.Context(), "test/from", "test/other", inTo)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown)

	_, err = r.MountBlob(t.Context(), "test/nothing", "test/to", absent)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown, ociregistry.ErrNameUnknown)
}
