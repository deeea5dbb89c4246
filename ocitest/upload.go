package ocitest

import (
	"bytes"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
)

var uploadTests = []test{
	{"Chunked", testUploadChunked},
	{"Empty", testUploadEmpty},
	{"CommitWrongDigest", testUploadCommitWrongDigest},
	{"Resume", testUploadResume},
	{"ResumeWrongOffset", testUploadResumeWrongOffset},
	{"ResumeUnknown", testUploadResumeUnknown},
	{"CancelThenResume", testUploadCancelThenResume},
	{"ResumeOtherRepository", testUploadResumeOtherRepository},
}

// writeChunks writes chunks to w, checking Size after each.
func writeChunks(t *testing.T, w ociregistry.BlobWriter, chunks ...[]byte) {
	t.Helper()
	for _, chunk := range chunks {
		before := w.Size()
		n, err := w.Write(chunk)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(n, len(chunk)))
		qt.Assert(t, qt.Equals(w.Size(), before+int64(len(chunk))))
	}
}

func testUploadChunked(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			chunks := [][]byte{randomBytes(1000), randomBytes(3000), randomBytes(17)}
			data := bytes.Join(chunks, nil)
			w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Not(qt.Equals(w.ID(), "")))
			qt.Assert(t, qt.IsTrue(w.ChunkSize() > 0), qt.Commentf("ChunkSize %d", w.ChunkSize()))
			qt.Assert(t, qt.Equals(w.Size(), int64(0)))
			writeChunks(t, w, chunks...)
			dig := alg.FromBytes(data)
			desc, err := w.Commit(dig)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Digest, dig))
			qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
			// Cancel after Commit does nothing, and says so with nil.
			qt.Assert(t, qt.IsNil(w.Cancel()))
			assertBlob(t, r, "test/upload", dig, data)
		})
	}
}

func testUploadEmpty(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	dig := Digest(nil)
	desc, err := w.Commit(dig)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, dig))
	qt.Assert(t, qt.Equals(desc.Size, int64(0)))
	assertBlob(t, r, "test/upload", dig, []byte{})
}

func testUploadCommitWrongDigest(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/upload", []byte("keeps the repository in existence"))
	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	data := []byte("some content")
	writeChunks(t, w, data)
	other := Digest([]byte("other content"))
	_, err = w.Commit(other)
	assertErrorIs(t, err, ociregistry.ErrDigestInvalid)
	// Whether a failed Commit ends the upload is up to the
	// implementation, so Cancel's answer is not checked.
	w.Cancel()
	assertNoBlob(t, r, "test/upload", other)
	assertNoBlob(t, r, "test/upload", Digest(data))
}

func testUploadResume(t *testing.T, s Suite) {
	if s.NoChunkedResume {
		t.Skip("Suite.NoChunkedResume")
	}
	r := s.newRegistry(t)
	part1, part2, part3 := randomBytes(1500), randomBytes(2500), randomBytes(10)
	data := bytes.Join([][]byte{part1, part2, part3}, nil)

	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	writeChunks(t, w, part1)
	qt.Assert(t, qt.IsNil(w.Close()))

	// A negative offset carries on wherever the upload is.
	w, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, -1, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.Size(), int64(len(part1))))
	writeChunks(t, w, part2)
	id = w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))

	// An exact offset is accepted too.
	offset := int64(len(part1) + len(part2))
	w, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, offset, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.Size(), offset))
	writeChunks(t, w, part3)
	desc, err := w.Commit(Digest(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, Digest(data)))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	qt.Assert(t, qt.IsNil(w.Cancel()))
	assertBlob(t, r, "test/upload", Digest(data), data)
}

func testUploadResumeWrongOffset(t *testing.T, s Suite) {
	if s.NoChunkedResume {
		t.Skip("Suite.NoChunkedResume")
	}
	r := s.newRegistry(t)
	part1, part2 := randomBytes(100), randomBytes(200)
	data := append(part1[:len(part1):len(part1)], part2...)

	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	writeChunks(t, w, part1)
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))

	for _, offset := range []int64{0, 50, 101, 1000} {
		_, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, offset, 0)
		assertErrorIs(t, err, ociregistry.ErrRangeInvalid)
	}

	// The upload survives a resume at the wrong offset.
	w, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, int64(len(part1)), 0)
	qt.Assert(t, qt.IsNil(err))
	writeChunks(t, w, part2)
	_, err = w.Commit(Digest(data))
	qt.Assert(t, qt.IsNil(err))
	assertBlob(t, r, "test/upload", Digest(data), data)
}

func testUploadResumeUnknown(t *testing.T, s Suite) {
	if s.NoChunkedResume {
		t.Skip("Suite.NoChunkedResume")
	}
	r := s.newRegistry(t)
	PushBlob(t, r, "test/upload", []byte("keeps the repository in existence"))
	_, err := r.PushBlobChunkedResume(t.Context(), "test/upload", "no-such-upload", -1, 0)
	assertErrorIs(t, err, ociregistry.ErrBlobUploadUnknown)
}

func testUploadCancelThenResume(t *testing.T, s Suite) {
	r := s.newRegistry(t)
	PushBlob(t, r, "test/upload", []byte("keeps the repository in existence"))
	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	data := []byte("abandoned content")
	writeChunks(t, w, data)
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Cancel()))
	assertNoBlob(t, r, "test/upload", Digest(data))
	if s.NoChunkedResume {
		return
	}
	_, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, -1, 0)
	assertErrorIs(t, err, ociregistry.ErrBlobUploadUnknown)
}

func testUploadResumeOtherRepository(t *testing.T, s Suite) {
	if s.NoChunkedResume {
		t.Skip("Suite.NoChunkedResume")
	}
	if s.SingleRepository {
		t.Skip("Suite.SingleRepository")
	}
	r := s.newRegistry(t)
	PushBlob(t, r, "test/other", []byte("keeps the other repository in existence"))
	part1, part2 := randomBytes(100), randomBytes(200)
	data := append(part1[:len(part1):len(part1)], part2...)
	w, err := r.PushBlobChunked(t.Context(), "test/upload", 0)
	qt.Assert(t, qt.IsNil(err))
	writeChunks(t, w, part1)
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))

	// An upload belongs to the repository it was started in: its ID
	// means nothing in another.
	_, err = r.PushBlobChunkedResume(t.Context(), "test/other", id, -1, 0)
	assertErrorIs(t, err, ociregistry.ErrBlobUploadUnknown)
	_, err = r.PushBlobChunkedResume(t.Context(), "test/other", id, int64(len(part1)), 0)
	assertErrorIs(t, err, ociregistry.ErrBlobUploadUnknown)

	// It carries on in its own repository, and lands there only.
	w, err = r.PushBlobChunkedResume(t.Context(), "test/upload", id, int64(len(part1)), 0)
	qt.Assert(t, qt.IsNil(err))
	writeChunks(t, w, part2)
	_, err = w.Commit(Digest(data))
	qt.Assert(t, qt.IsNil(err))
	assertBlob(t, r, "test/upload", Digest(data), data)
	assertNoBlob(t, r, "test/other", Digest(data))
}
