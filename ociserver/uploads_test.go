package ociserver_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
)

// TestMaxUploads checks that the server holds no more uploads in
// progress than Options.MaxUploads: one more is 429 TOOMANYREQUESTS with
// Retry-After, stores nothing, and disturbs neither the uploads in
// progress nor stored content; finishing or cancelling one frees a slot.
func TestMaxUploads(t *testing.T) {
	r := ocimem.New()
	stored := pushBlob(t, r, "foo", "stored before")
	base := newServer(t, r, &ociserver.Options{MaxUploads: 3})
	var locations []string
	for range 3 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		locations = append(locations, resp.header.Get("Location"))
	}
	// One session more, a single-request upload, in another
	// repository too: all refused before anything is stored.
	content := "refused content"
	for _, rq := range []request{
		{method: "POST", path: "/v2/foo/blobs/uploads/"},
		{method: "POST", path: "/v2/bar/blobs/uploads/"},
		{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + digest.FromString(content).String(), body: content},
	} {
		resp := do(t, base, rq)
		checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		qt.Check(t, qt.Equals(resp.header.Get("Retry-After"), "10"))
		qt.Check(t, qt.StringContains(resp.body, "3 uploads are in progress"))
	}
	resp := do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + digest.FromString(content).String()})
	qt.Check(t, qt.Equals(resp.status, http.StatusNotFound))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + string(stored.Digest)})
	qt.Check(t, qt.Equals(resp.body, "stored before"))

	// The sessions in progress go on: one is finished, one
	// cancelled, each freeing a slot.
	data := "session content"
	resp = do(t, base, request{method: "PATCH", path: locations[0], body: data})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	resp = do(t, base, request{method: "PUT", path: locations[0] + "?digest=" + digest.FromString(data).String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
	resp = do(t, base, request{method: "DELETE", path: locations[1]})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	for range 2 {
		resp = do(t, base, request{method: "POST", path: "/v2/bar/blobs/uploads/"})
		qt.Check(t, qt.Equals(resp.status, http.StatusAccepted))
	}
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")

	// A single-request upload holds its slot only while it runs.
	resp = do(t, base, request{method: "DELETE", path: locations[2]})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	for range 3 {
		resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + digest.FromString(content).String(), body: content})
		qt.Check(t, qt.Equals(resp.status, http.StatusCreated))
	}
}

// TestUploadIdleTimeout checks that a session idle for longer than
// Options.UploadIdleTimeout stops counting against the limit and is
// cancelled in the backend, freeing what it held there.
func TestUploadIdleTimeout(t *testing.T) {
	base := newServer(t, ocimem.New(), &ociserver.Options{MaxUploads: 2, UploadIdleTimeout: 500 * time.Millisecond})
	var locations []string
	for range 2 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		locations = append(locations, resp.header.Get("Location"))
		resp = do(t, base, request{method: "PATCH", path: resp.header.Get("Location"), body: "abandoned"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	time.Sleep(700 * time.Millisecond)
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Check(t, qt.Equals(resp.status, http.StatusAccepted))
	for _, loc := range locations {
		resp := do(t, base, request{method: "GET", path: loc})
		checkError(t, resp, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	}
}

// TestUploadsUnlimited checks that a negative MaxUploads sets no limit.
func TestUploadsUnlimited(t *testing.T) {
	base := newServer(t, ocimem.New(), &ociserver.Options{MaxUploads: -1})
	for range 50 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
}

// replica is one of several servers sharing a backend, as replicas behind
// a load balancer do, with a clock the test moves.
type replica struct {
	h    http.Handler
	base string
	skew atomic.Int64
}

func newReplica(t *testing.T, r ociregistry.Interface, opts *ociserver.Options) *replica {
	rp := &replica{h: ociserver.New(r, opts)}
	ociserver.SetUploadClock(rp.h, func() time.Time { return time.Now().Add(time.Duration(rp.skew.Load())) })
	srv := httptest.NewServer(rp.h)
	t.Cleanup(srv.Close)
	rp.base = srv.URL
	return rp
}

// TestUploadsEndedThroughAnotherServer checks that sessions a server
// started and that were finished or cancelled through another server
// sharing its backend stop taking its slots: once it has not seen them
// for a while (10 s), it asks the backend before it refuses an upload.
func TestUploadsEndedThroughAnotherServer(t *testing.T) {
	r := ocimem.New()
	a := newReplica(t, r, &ociserver.Options{MaxUploads: 3})
	b := newReplica(t, r, nil)
	var kept string
	for i := range 3 {
		resp := do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		loc := resp.header.Get("Location")
		switch i {
		case 0:
			data := "finished elsewhere"
			resp = do(t, b.base, request{method: "PUT", path: loc + "?digest=" + digest.FromString(data).String(), body: data})
			qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
		case 1:
			resp = do(t, b.base, request{method: "DELETE", path: loc})
			qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
		case 2:
			kept = loc
		}
	}
	// Just seen: still counted.
	resp := do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")

	a.skew.Store(int64(11 * time.Second))
	for range 2 {
		resp = do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
	// The session still in progress holds its slot, and is intact.
	resp = do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	resp = do(t, b.base, request{method: "GET", path: kept})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
}

// TestUploadInUseThroughAnotherServer checks that a server does not
// cancel as idle a session that another server sharing its backend has
// been adding to, and does cancel it once it is idle in the backend too.
func TestUploadInUseThroughAnotherServer(t *testing.T) {
	const idle = time.Minute
	r := ocimem.New()
	a := newReplica(t, r, &ociserver.Options{UploadIdleTimeout: idle})
	b := newReplica(t, r, nil)
	resp := do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	loc := resp.header.Get("Location")
	sweep := func() int { return a.h.(ociserver.UploadSweeper).SweepUploads(context.Background()) }

	data := ""
	for i := range 3 {
		chunk := fmt.Sprintf("chunk %d;", i)
		resp = do(t, b.base, request{method: "PATCH", path: loc, body: chunk, header: map[string]string{
			"Content-Range": fmt.Sprintf("%d-%d", len(data), len(data)+len(chunk)-1),
		}})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		data += chunk
		// For a, the session has gone unused for longer than idle
		// each time; in the backend it has grown.
		a.skew.Add(int64(2 * idle))
		qt.Assert(t, qt.Equals(sweep(), 0))
	}
	resp = do(t, b.base, request{method: "GET", path: loc})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	qt.Assert(t, qt.Equals(resp.header.Get("Range"), fmt.Sprintf("0-%d", len(data)-1)))

	// Idle everywhere now.
	a.skew.Add(int64(2 * idle))
	qt.Assert(t, qt.Equals(sweep(), 1))
	resp = do(t, b.base, request{method: "GET", path: loc})
	checkError(t, resp, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
}

// TestFailedFinalPut checks what a final PUT with the wrong digest leaves:
// without a chunk, the upload as it was, to be ended with the right
// digest; with one, which the upload now holds and a retry would send
// again, no upload (as Distribution means to), so that the client starts
// again.
func TestFailedFinalPut(t *testing.T) {
	base := newServer(t, ocimem.New(), nil)
	start := func(data string) string {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		loc := resp.header.Get("Location")
		resp = do(t, base, request{method: "PATCH", path: loc, body: data})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		return loc
	}
	wrong := "?digest=" + digest.FromString("something else").String()

	loc := start("all of it")
	resp := do(t, base, request{method: "PUT", path: loc + wrong})
	checkError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
	resp = do(t, base, request{method: "PUT", path: loc + "?digest=" + digest.FromString("all of it").String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))

	loc = start("first part, ")
	resp = do(t, base, request{method: "PUT", path: loc + wrong, body: "last part"})
	checkError(t, resp, http.StatusBadRequest, "DIGEST_INVALID")
	resp = do(t, base, request{method: "GET", path: loc})
	checkError(t, resp, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	resp = do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + digest.FromString("first part, last part").String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNotFound))
}

// TestUploadStatusDuringPatch checks that asking for an upload's status
// while a PATCH is streaming into the upload tells how far it has got and
// leaves that PATCH alone, and so, in memory, does a PATCH refused for
// its range (on disk such a PATCH waits for its turn).
func TestUploadStatusDuringPatch(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			base := newServer(t, newBackend(t), nil)
			resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
			loc := resp.header.Get("Location")

			pw, patched := streamPatch(t, base, loc, nil)
			first, second := strings.Repeat("a", 100<<10), strings.Repeat("b", 100<<10)
			_, err := io.WriteString(pw, first)
			qt.Assert(t, qt.IsNil(err))
			// The status answers at once. In memory it shows what
			// has arrived so far, once the server has read it; on
			// disk, what has been written (a push is written a
			// MiB at a time).
			deadline := time.Now().Add(10 * time.Second)
			for {
				resp = do(t, base, request{method: "GET", path: loc})
				qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
				if name == "fs" || resp.header.Get("Range") == fmt.Sprintf("0-%d", len(first)-1) {
					break
				}
				qt.Assert(t, qt.IsTrue(time.Now().Before(deadline)), qt.Commentf("Range %s", resp.header.Get("Range")))
				time.Sleep(10 * time.Millisecond)
			}
			if name == "mem" {
				resp = do(t, base, request{method: "PATCH", path: loc, body: "misplaced", header: map[string]string{"Content-Range": "0-8"}})
				checkError(t, resp, http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID")
			}
			_, err = io.WriteString(pw, second)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsNil(pw.Close()))
			resp = <-patched
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
			resp = do(t, base, request{method: "PUT", path: loc + "?digest=" + digest.FromString(first+second).String()})
			qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
		})
	}
}

// TestFinalPutWaitsForTurn checks that a final PUT without a chunk (the
// usual end of a chunked push) waits while another writer holds the
// upload, and then succeeds.
func TestFinalPutWaitsForTurn(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := newBackend(t)
			base := newServer(t, r, nil)
			resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
			loc := resp.header.Get("Location")
			const data = "pushed in a PATCH"
			resp = do(t, base, request{method: "PATCH", path: loc, body: data})
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))

			// Another writer (a status request of another replica,
			// say) holds the upload for a moment.
			id := loc[strings.LastIndex(loc, "/")+1:]
			held, err := r.PushBlobChunkedResume(context.Background(), "foo", id, int64(len(data)), 0)
			qt.Assert(t, qt.IsNil(err))
			time.AfterFunc(300*time.Millisecond, func() { held.Close() })
			resp = do(t, base, request{method: "PUT", path: loc + "?digest=" + digest.FromString(data).String()})
			qt.Assert(t, qt.Equals(resp.status, http.StatusCreated), qt.Commentf("body %s", resp.body))
		})
	}
}

// slowResumes is a backend whose PushBlobChunkedResume takes delay, or
// until its context is done.
type slowResumes struct {
	ociregistry.Interface
	delay time.Duration
}

func (s slowResumes) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Interface.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

// TestSweepSlowBackend checks that sweeps cancel every idle session even
// when the backend answers too slowly for one round of checks: a session
// whose check the round's time (2 s) ran out on is not counted as used,
// only skipped for a while (10 s here), and the next sweep after that
// cancels it.
func TestSweepSlowBackend(t *testing.T) {
	const n = 10
	r := ocimem.New()
	a := newReplica(t, slowResumes{r, 250 * time.Millisecond}, &ociserver.Options{UploadIdleTimeout: time.Hour})
	var locations []string
	for range n {
		resp := do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
		locations = append(locations, resp.header.Get("Location"))
	}
	a.skew.Store(int64(2 * time.Hour))
	got := a.h.(ociserver.UploadSweeper).SweepUploads(context.Background())
	qt.Assert(t, qt.IsTrue(got > 0 && got < n), qt.Commentf("first sweep cancelled %d", got))
	a.skew.Add(int64(11 * time.Second))
	got += a.h.(ociserver.UploadSweeper).SweepUploads(context.Background())
	qt.Assert(t, qt.Equals(got, n))
	plain := newServer(t, r, nil)
	for _, loc := range locations {
		resp := do(t, plain, request{method: "GET", path: loc})
		checkError(t, resp, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN")
	}
}

// TestSweepLeavesUploadBeingWritten checks that a server does not cancel
// as idle a session that another server sharing the backend is writing
// to, even before what it writes shows in the session's size.
func TestSweepLeavesUploadBeingWritten(t *testing.T) {
	dir := t.TempDir()
	ra, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	rb, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	a := newReplica(t, ra, &ociserver.Options{UploadIdleTimeout: time.Hour})
	resumed := &resumeSignal{Interface: rb, resumed: make(chan struct{})}
	b := newReplica(t, resumed, nil)
	resp := do(t, a.base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	loc := resp.header.Get("Location")

	pw, patched := streamPatch(t, b.base, loc, map[string]string{"Content-Range": "0-8"})
	// The PATCH holds the upload, and has sent too little for its
	// size on disk to change.
	<-resumed.resumed
	_, err = io.WriteString(pw, "stre")
	qt.Assert(t, qt.IsNil(err))

	a.skew.Store(int64(2 * time.Hour))
	qt.Assert(t, qt.Equals(a.h.(ociserver.UploadSweeper).SweepUploads(context.Background()), 0))
	_, err = io.WriteString(pw, "aming")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(pw.Close()))
	resp = <-patched
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	resp = do(t, b.base, request{method: "PUT", path: loc + "?digest=" + digest.FromString("streaming").String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
}

// resumeSignal is a backend that closes resumed once a writer resumed at
// an offset has the upload.
type resumeSignal struct {
	ociregistry.Interface
	resumed chan struct{}
	once    sync.Once
}

func (s *resumeSignal) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	bw, err := s.Interface.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
	if err == nil && offset >= 0 {
		s.once.Do(func() { close(s.resumed) })
	}
	return bw, err
}

// deniedUploads is a backend that refuses to resume the uploads of the
// repository "secret", as an access check does.
type deniedUploads struct{ ociregistry.Interface }

func (d deniedUploads) PushBlobChunkedResume(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
	if repo == "secret" {
		return nil, ociregistry.ErrDenied
	}
	return d.Interface.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
}

// TestDeniedUploadsTakeNoSlots checks that requests for upload IDs that
// the backend refuses to resume (any ID a client cares to name, in a
// repository it may not push to) take none of the server's slots.
func TestDeniedUploadsTakeNoSlots(t *testing.T) {
	base := newServer(t, deniedUploads{ocimem.New()}, &ociserver.Options{MaxUploads: 2})
	for i := range 20 {
		path := fmt.Sprintf("/v2/secret/blobs/uploads/%032x", i)
		resp := do(t, base, request{method: "PATCH", path: path, body: "x"})
		checkError(t, resp, http.StatusForbidden, "DENIED")
		resp = do(t, base, request{method: "GET", path: path})
		checkError(t, resp, http.StatusForbidden, "DENIED")
	}
	for range 2 {
		resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
		qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
	}
}

// streamPatch starts a PATCH of the upload at loc on the server at base,
// with the given headers, whose body is what the test writes to pw until
// it closes it; the response comes on patched. When the test ends, the
// body ends too (with an error, if the test has not closed it), so that
// the server can close.
func streamPatch(t *testing.T, base, loc string, header map[string]string) (pw *io.PipeWriter, patched <-chan response) {
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	ch := make(chan response, 1)
	go func() {
		ch <- do(t, base, request{method: "PATCH", path: loc, bodyReader: pr, header: header})
	}()
	return pw, ch
}
