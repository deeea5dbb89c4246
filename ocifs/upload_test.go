package ocifs_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// TestAbandonedUploadsForgotten starts 200 uploads, writes to each and
// closes it, as ociserver does after every POST and PATCH, and abandons
// them: once the stale uploads are cleaned up the Registry keeps nothing
// of them, not even their hash state.
func TestAbandonedUploadsForgotten(t *testing.T) {
	ctx := t.Context()
	r, dir := newRegistry(t)
	for range 200 {
		w, err := r.PushBlobChunked(ctx, "a", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Write([]byte("abandoned"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(w.Close()))
	}
	qt.Assert(t, qt.Equals(ocifs.UploadStates(r), 200))
	ocifs.CleanStale(r, time.Now().Add(ocifs.DefaultUploadMaxAge+time.Hour))
	entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(entries, 0))
	qt.Assert(t, qt.Equals(ocifs.UploadStates(r), 0))
}

// TestUploadStatesBounded checks that the hash states kept for closed
// uploads stay within their bound however many uploads are left open,
// and that an upload whose state was dropped still resumes correctly.
func TestUploadStatesBounded(t *testing.T) {
	ctx := t.Context()
	ocifs.SetMaxUploadStates(t, 50)
	r, _ := newRegistry(t)
	var first string
	for i := range 200 {
		w, err := r.PushBlobChunked(ctx, "a", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Write([]byte("some data"))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsNil(w.Close()))
		if i == 0 {
			first = w.ID()
		}
		qt.Assert(t, qt.IsTrue(ocifs.UploadStates(r) <= 50))
	}
	w, err := r.PushBlobChunkedResume(ctx, "a", first, -1, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Write([]byte(", more"))
	qt.Assert(t, qt.IsNil(err))
	desc, err := w.Commit(digest.FromBytes([]byte("some data, more")))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(len("some data, more"))))
}

// TestAbandonedUploadsForgottenOverHTTP is TestAbandonedUploadsForgotten
// as clients meet it: 200 uploads started with POST, given a chunk with
// PATCH and abandoned.
func TestAbandonedUploadsForgottenOverHTTP(t *testing.T) {
	r, dir := newRegistry(t)
	host := ocitest.NewServer(t, r)
	for range 200 {
		loc := startUpload(t, host)
		req, _ := http.NewRequest("PATCH", "http://"+host+loc, strings.NewReader("abandoned"))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	}
	qt.Assert(t, qt.Equals(ocifs.UploadStates(r), 200))
	ocifs.CleanStale(r, time.Now().Add(ocifs.DefaultUploadMaxAge+time.Hour))
	entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(entries, 0))
	qt.Assert(t, qt.Equals(ocifs.UploadStates(r), 0))
}

// TestConcurrentResume resumes one upload twice at once, as two requests
// for the same session do (a client retrying a chunk whose answer it did
// not wait for, or one that means harm), and commits through the first
// writer: the blob stored must hold what the first wrote and nothing of
// the second, which must find the upload gone. Writers of one upload
// take turns, so the second, which asked for the offset the first
// started at, never appends to what the first commits.
func TestConcurrentResume(t *testing.T) {
	ctx := t.Context()
	r, _ := newRegistry(t)
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))

	first, err := r.PushBlobChunkedResume(ctx, "a", id, 0, 0)
	qt.Assert(t, qt.IsNil(err))
	var secondErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		second, err := r.PushBlobChunkedResume(ctx, "a", id, 0, 0)
		if secondErr = err; err != nil {
			return
		}
		if _, secondErr = second.Write([]byte("second writer's bytes")); secondErr == nil {
			secondErr = second.Close()
		}
	}()
	// Give the second writer time to write first, if it can.
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	content := []byte("first writer's bytes")
	_, err = first.Write(content)
	qt.Assert(t, qt.IsNil(err))
	desc, err := first.Commit(digest.FromBytes(content))
	qt.Assert(t, qt.IsNil(err))
	<-done
	qt.Check(t, qt.ErrorIs(secondErr, ociregistry.ErrBlobUploadUnknown))

	rd, err := r.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.DeepEquals(readAll(t, rd), content))
}
