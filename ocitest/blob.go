package ocitest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

var blobTests = []test{
	{"PushGetResolve", testBlobPushGetResolve},
	{"PushWrongDigest", testBlobPushWrongDigest},
	{"PushWrongSize", testBlobPushWrongSize},
	{"Unknown", testBlobUnknown},
	{"PerRepository", testBlobPerRepository},
	{"Range", testBlobRange},
	{"RangeInvalid", testBlobRangeInvalid},
	{"RangeAtEnd", testBlobRangeAtEnd},
	{"PushReaderFails", testBlobPushReaderFails},
}

func testBlobPushGetResolve(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	tests := []struct {
		name string
		alg  digest.Algorithm
		data []byte
	}{
		{"SHA256", digest.SHA256, []byte("hello, world")},
		{"SHA512", digest.SHA512, []byte("hello, sha512 world")},
		{"Empty", digest.SHA256, []byte{}},
		{"EmptySHA512", digest.SHA512, []byte{}},
		{"Large", digest.SHA256, randomBytes(300 << 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			desc := ociregistry.Descriptor{
				MediaType: "application/octet-stream",
				Digest:    tc.alg.FromBytes(tc.data),
				Size:      int64(len(tc.data)),
			}
			got, err := r.PushBlob(t.Context(), "test/blob", desc, bytes.NewReader(tc.data))
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(got.Digest, desc.Digest))
			qt.Assert(t, qt.Equals(got.Size, desc.Size))
			assertBlob(t, r, "test/blob", desc.Digest, tc.data)

			// Pushing the same blob again is not an error.
			_, err = r.PushBlob(t.Context(), "test/blob", desc, bytes.NewReader(tc.data))
			qt.Assert(t, qt.IsNil(err))
			assertBlob(t, r, "test/blob", desc.Digest, tc.data)
		})
	}
}

func testBlobPushWrongDigest(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/blob", []byte("keeps the repository in existence"))
	data := []byte("some content")
	other := Digest([]byte("other content"))
	_, err := r.PushBlob(t.Context(), "test/blob", ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    other,
		Size:      int64(len(data)),
	}, bytes.NewReader(data))
	assertErrorIs(t, err, ociregistry.ErrDigestInvalid)
	assertNoBlob(t, r, "test/blob", other)
	assertNoBlob(t, r, "test/blob", Digest(data))
}

func testBlobPushWrongSize(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/blob", []byte("keeps the repository in existence"))
	data := []byte("some content")
	for _, size := range []int64{int64(len(data)) + 1, int64(len(data)) - 1} {
		_, err := r.PushBlob(t.Context(), "test/blob", ociregistry.Descriptor{
			MediaType: "application/octet-stream",
			Digest:    Digest(data),
			Size:      size,
		}, bytes.NewReader(data))
		assertErrorIs(t, err, ociregistry.ErrSizeInvalid)
		assertNoBlob(t, r, "test/blob", Digest(data))
	}
}

func testBlobUnknown(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/blob", []byte("keeps the repository in existence"))
	absent := Digest([]byte("never pushed"))
	assertNoBlob(t, r, "test/blob", absent)
	_, err := r.GetBlobRange(t.Context(), "test/blob", absent, 0, 1)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown)

	// The Interface allows either error for a repository that does
	// not exist.
	_, err = r.GetBlob(t.Context(), "test/nothing", absent)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown, ociregistry.ErrNameUnknown)
	_, err = r.ResolveBlob(t.Context(), "test/nothing", absent)
	assertErrorIs(t, err, ociregistry.ErrBlobUnknown, ociregistry.ErrNameUnknown)
}

func testBlobPerRepository(t *testing.T, s Suite) {
	if s.SingleRepository {
		t.Skip("Suite.SingleRepository")
	}
	r := s.newRegistry(t)
	data := []byte("blob in a")
	dig := PushBlob(t, r, "test/a", data).Digest
	PushBlob(t, r, "test/a", []byte("keeps a in existence"))
	PushBlob(t, r, "test/b", []byte("keeps b in existence"))
	assertBlob(t, r, "test/a", dig, data)
	assertNoBlob(t, r, "test/b", dig)

	if s.NoMount {
		return
	}
	_, err := r.MountBlob(t.Context(), "test/a", "test/c", dig)
	qt.Assert(t, qt.IsNil(err))
	assertBlob(t, r, "test/c", dig, data)
	if s.NoDelete {
		return
	}
	qt.Assert(t, qt.IsNil(r.DeleteBlob(t.Context(), "test/a", dig)))
	assertNoBlob(t, r, "test/a", dig)
	assertBlob(t, r, "test/c", dig, data)
	assertNoBlob(t, r, "test/b", dig)
}

// rangeData is the blob that the range tests read: 100 bytes, each
// holding its own offset.
var rangeData = func() []byte {
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	return data
}()

func testBlobRange(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	dig := PushBlob(t, r, "test/blob", rangeData).Digest
	tests := []struct {
		name             string
		offset0, offset1 int64
		want             []byte
	}{
		{"Middle", 10, 20, rangeData[10:20]},
		{"Start", 0, 1, rangeData[:1]},
		{"Whole", 0, 100, rangeData},
		{"ToEnd", 10, -1, rangeData[10:]},
		{"LastByte", 99, -1, rangeData[99:]},
		{"Offset1PastEnd", 90, 1000, rangeData[90:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := r.GetBlobRange(t.Context(), "test/blob", dig, tc.offset0, tc.offset1)
			qt.Assert(t, qt.IsNil(err))
			desc := rd.Descriptor()
			got := readAll(t, rd)
			assertBytes(t, got, tc.want)
			// The descriptor describes the whole blob, not the range.
			qt.Assert(t, qt.Equals(desc.Digest, dig))
			qt.Assert(t, qt.Equals(desc.Size, int64(len(rangeData))))
		})
	}
}

func testBlobRangeInvalid(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	dig := PushBlob(t, r, "test/blob", rangeData).Digest
	tests := []struct {
		name             string
		offset0, offset1 int64
	}{
		{"Offset0PastEnd", 150, -1},
		{"Offset0PastEndWithOffset1", 150, 200},
		{"Negative", -1, 10},
		{"Reversed", 20, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := r.GetBlobRange(t.Context(), "test/blob", dig, tc.offset0, tc.offset1)
			if err == nil {
				rd.Close()
			}
			assertErrorIs(t, err, ociregistry.ErrRangeInvalid)
		})
	}
}

func testBlobRangeAtEnd(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	dig := PushBlob(t, r, "test/blob", rangeData).Digest
	empty := PushBlob(t, r, "test/blob", []byte{}).Digest
	size := int64(len(rangeData))
	// A range that starts at the end of a blob is empty, not invalid:
	// only a start past the end is (see Reader.GetBlobRange). That
	// holds for the empty blob, whose end is 0.
	tests := []struct {
		name             string
		dig              ociregistry.Digest
		size             int64
		offset0, offset1 int64
	}{
		{"ToEnd", dig, size, size, -1},
		{"Empty", dig, size, size, size},
		{"Offset1PastEnd", dig, size, size, size + 10},
		{"EmptyBlobToEnd", empty, 0, 0, -1},
		{"EmptyBlobEmpty", empty, 0, 0, 0},
		{"EmptyBlobOffset1PastEnd", empty, 0, 0, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := r.GetBlobRange(t.Context(), "test/blob", tc.dig, tc.offset0, tc.offset1)
			qt.Assert(t, qt.IsNil(err))
			desc := rd.Descriptor()
			assertBytes(t, readAll(t, rd), []byte{})
			qt.Assert(t, qt.Equals(desc.Digest, tc.dig))
			qt.Assert(t, qt.Equals(desc.Size, tc.size))
		})
	}
	// One byte further is past the end.
	for _, tc := range []struct {
		name string
		dig  ociregistry.Digest
		off  int64
	}{{"PastEnd", dig, size + 1}, {"EmptyBlobPastEnd", empty, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			rd, err := r.GetBlobRange(t.Context(), "test/blob", tc.dig, tc.off, -1)
			if err == nil {
				rd.Close()
			}
			assertErrorIs(t, err, ociregistry.ErrRangeInvalid)
		})
	}
}

// failingReader yields data and then fails with err instead of io.EOF.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func testBlobPushReaderFails(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/blob", []byte("keeps the repository in existence"))
	data := randomBytes(64 << 10)
	errRead := errors.New("the reader failed")
	for _, size := range []int64{int64(len(data)), -1} {
		desc := ociregistry.Descriptor{
			MediaType: "application/octet-stream",
			Digest:    Digest(data),
			Size:      size,
		}
		// The reader fails half way through: the push must fail,
		// whatever error it reports, and store nothing, not even
		// the half that was read.
		rd := &failingReader{data: data[:len(data)/2], err: errRead}
		_, err := r.PushBlob(t.Context(), "test/blob", desc, rd)
		qt.Assert(t, qt.IsNotNil(err), qt.Commentf("size %d", size))
		assertNoBlob(t, r, "test/blob", Digest(data))
		assertNoBlob(t, r, "test/blob", Digest(data[:len(data)/2]))
	}
	// The registry takes the blob when it is pushed whole.
	desc, err := r.PushBlob(t.Context(), "test/blob", ociregistry.Descriptor{
		MediaType: "application/octet-stream",
		Digest:    Digest(data),
		Size:      int64(len(data)),
	}, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, Digest(data)))
	assertBlob(t, r, "test/blob", Digest(data), data)
}
