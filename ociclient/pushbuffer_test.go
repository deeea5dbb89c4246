package ociclient

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
)

// TestPushBlobBufferBounded checks that the content that PushBlob
// calls hold in memory, to send again, stays within MaxPushBuffer all
// together: while one push holds its buffer (its registry is slow to
// answer), another that does not fit goes up with POST then PUT,
// unbuffered, and once the first is done the next push is buffered
// again.
func TestPushBlobBufferBounded(t *testing.T) {
	mem := ocimem.New()
	entered := make(chan struct{})
	release := make(chan struct{})
	var rec recorder
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == "POST" && strings.HasPrefix(req.URL.Path, "/v2/slow/") && req.URL.Query().Has("digest") {
			close(entered)
			<-release
		}
		ociserver.New(mem, nil).ServeHTTP(w, req)
	})
	c := serve(t, rec.wrap(h), &Options{MaxPushBuffer: 1 << 20})
	ctx := context.Background()
	push := func(repo string, data []byte) error {
		// A reader that cannot seek.
		r := struct{ io.Reader }{bytes.NewReader(data)}
		_, err := c.PushBlob(ctx, repo, ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}, r)
		return err
	}
	blob := func(b byte) []byte { return bytes.Repeat([]byte{b}, 600<<10) }

	var wg sync.WaitGroup
	var slowErr error
	wg.Go(func() { slowErr = push("slow", blob(1)) })
	<-entered
	qt.Assert(t, qt.IsNil(push("fast", blob(2))))
	close(release)
	wg.Wait()
	qt.Assert(t, qt.IsNil(slowErr))
	qt.Assert(t, qt.IsNil(push("again", blob(3))))
	assertMemBlob(t, mem, "slow", blob(1))
	assertMemBlob(t, mem, "fast", blob(2))
	assertMemBlob(t, mem, "again", blob(3))

	var fast, again []string
	rec.mu.Lock()
	for _, r := range rec.reqs {
		switch {
		case strings.Contains(r, "/v2/fast/"):
			fast = append(fast, r)
		case strings.Contains(r, "/v2/again/"):
			again = append(again, r)
		}
	}
	rec.mu.Unlock()
	// The push that did not fit started a session without content,
	// and sent the content with PUT.
	qt.Assert(t, qt.HasLen(fast, 2))
	qt.Assert(t, qt.Equals(fast[0], "POST /v2/fast/blobs/uploads/"))
	qt.Assert(t, qt.IsTrue(strings.HasPrefix(fast[1], "PUT /v2/fast/blobs/uploads/")))
	// Once the buffer was free again, the push went up in one request.
	qt.Assert(t, qt.HasLen(again, 1))
	qt.Assert(t, qt.StringContains(again[0], "POST /v2/again/blobs/uploads/?digest="))
	qt.Assert(t, qt.Equals(c.(*client).pushBuffered.Load(), int64(0)))
}
