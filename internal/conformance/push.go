package conformance

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// testPushBlobs checks the blob upload endpoints (spec: Pushing blobs,
// end-4a to end-6, end-11, end-13, end-14).
func (s *suite) testPushBlobs(t *testing.T, algo digest.Algorithm) {
	repo := s.repo("push-blobs-" + string(algo))
	// Every way of uploading must store the blob; each case uploads a
	// fresh blob and the blob must then be readable.
	methods := []struct {
		name string
		push func(t *testing.T, repo string, b blob) *response
	}{
		{"SinglePOST", s.pushSinglePost},
		{"POSTThenPUT", s.pushPostPut},
		{"ChunkedSingleChunk", func(t *testing.T, repo string, b blob) *response {
			return s.pushChunked(t, repo, b, len(b.data), false)
		}},
		{"ChunkedMulti", func(t *testing.T, repo string, b blob) *response {
			return s.pushChunked(t, repo, b, len(b.data)/3+1, false)
		}},
		{"ChunkedMultiLastChunkInPUT", func(t *testing.T, repo string, b blob) *response {
			return s.pushChunked(t, repo, b, len(b.data)/3+1, true)
		}},
		{"Streamed", s.pushStreamed},
		{"PATCHWithoutContentRange", s.pushPatchNoRange},
		{"DigestAlgorithmParameter", s.pushDigestAlgorithm},
	}
	sizes := []struct {
		name string
		n    int
	}{
		{"Small", 512},
		// Bigger than the buffers servers copy with, not a round size.
		{"Large", 300*1024 + 5},
	}
	for _, m := range methods {
		t.Run(m.name, func(t *testing.T) {
			for _, size := range sizes {
				t.Run(size.name, func(t *testing.T) {
					b := randomBlob(algo, size.n)
					resp := m.push(t, repo, b)
					s.checkBlobCreated(t, resp, repo, b)
				})
			}
		})
	}
	t.Run("EmptyBlob", func(t *testing.T) {
		b := newBlob(algo, mtOctetStream, []byte{})
		s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
	})
	t.Run("EmptyJSONBlob", func(t *testing.T) {
		b := newBlob(algo, mtEmptyJSON, []byte("{}"))
		s.checkBlobCreated(t, s.pushSinglePost(t, repo, b), repo, b)
	})
	t.Run("SameBlobTwice", func(t *testing.T) {
		b := randomBlob(algo, 100)
		s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
		s.checkBlobCreated(t, s.pushPostPut(t, repo, b), repo, b)
	})
	t.Run("UploadStatus", func(t *testing.T) { s.testUploadStatus(t, repo, algo) })
	t.Run("InterleavedUploads", func(t *testing.T) { s.testInterleaved(t, repo, algo) })
	t.Run("OutOfOrderChunks", func(t *testing.T) { s.testOutOfOrder(t, repo, algo) })
	t.Run("Cancel", func(t *testing.T) { s.testCancel(t, repo, algo) })
	t.Run("UnknownUpload", func(t *testing.T) { s.testUnknownUpload(t, repo) })
	t.Run("WrongDigest", func(t *testing.T) { s.testWrongDigest(t, repo, algo) })
	t.Run("InvalidDigest", func(t *testing.T) { s.testInvalidDigest(t, repo, algo) })
	t.Run("Mount", func(t *testing.T) { s.testMount(t, algo) })
}

// startUpload starts an upload session and returns its location
// (spec: POST then PUT, end-4a).
func (s *suite) startUpload(t *testing.T, repo string) (loc string, resp *response) {
	t.Helper()
	resp = s.c.send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, "Content-Length", "0")
	resp.wantStatus(t, http.StatusAccepted)
	loc = resp.wantLocation(t)
	checkUploadLocation(t, resp, repo, loc)
	return loc, resp
}

// checkUploadLocation checks that an upload location is a URL the client
// can use. The spec leaves its form to the registry, but every registry
// (and the official suites) put it under /v2/<name>/blobs/uploads/.
func checkUploadLocation(t *testing.T, resp *response, repo, loc string) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("cannot parse Location %q: %v\n%s", loc, err, resp)
	}
	if !strings.HasPrefix(u.Path, "/v2/"+repo+"/blobs/uploads/") {
		t.Errorf("upload Location %q is not under /v2/%s/blobs/uploads/\n%s", loc, repo, resp)
	}
}

// pushSinglePost pushes b with one POST (spec: Single POST, end-4b).
func (s *suite) pushSinglePost(t *testing.T, repo string, b blob) *response {
	t.Helper()
	resp := s.c.send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+b.desc.Digest.String(), b.data,
		"Content-Type", mtOctetStream)
	if s.opts.AllowSinglePostFallback && resp.status == http.StatusAccepted {
		loc := resp.wantLocation(t)
		return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data, "Content-Type", mtOctetStream)
	}
	return resp
}

// pushPostPut pushes b with a POST and a PUT (spec: POST then PUT).
func (s *suite) pushPostPut(t *testing.T, repo string, b blob) *response {
	t.Helper()
	loc, _ := s.startUpload(t, repo)
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data, "Content-Type", mtOctetStream)
}

// pushChunked pushes b in chunks of chunkSize with PATCH requests, the
// last one in the closing PUT when lastInPut (spec: Pushing a blob in
// chunks, end-5, end-6).
func (s *suite) pushChunked(t *testing.T, repo string, b blob, chunkSize int, lastInPut bool) *response {
	t.Helper()
	loc, post := s.startUpload(t, repo)
	if min := post.header.Get("OCI-Chunk-Min-Length"); min != "" {
		n, err := strconv.Atoi(min)
		if err != nil || n < 0 {
			t.Errorf("OCI-Chunk-Min-Length %q is not a size\n%s", min, post)
		} else if n > chunkSize {
			chunkSize = n
		}
	}
	if chunkSize < 1 {
		chunkSize = 1
	}
	data := b.data
	for start := 0; start < len(data); start += chunkSize {
		end := min(start+chunkSize, len(data)) // exclusive
		chunk := data[start:end]
		hdr := []string{
			"Content-Type", mtOctetStream,
			"Content-Range", fmt.Sprintf("%d-%d", start, end-1),
		}
		if lastInPut && end == len(data) {
			return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), chunk, hdr...)
		}
		resp := s.c.send(t, http.MethodPatch, loc, chunk, hdr...)
		s.checkChunkAccepted(t, resp, repo, end)
		loc = resp.wantLocation(t)
	}
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), nil, "Content-Type", mtOctetStream)
}

// checkChunkAccepted checks the answer to a PATCH after which the upload
// holds size bytes.
func (s *suite) checkChunkAccepted(t *testing.T, resp *response, repo string, size int) {
	t.Helper()
	resp.wantStatus(t, http.StatusAccepted)
	checkUploadLocation(t, resp, repo, resp.wantLocation(t))
	checkUploadRange(t, resp, size)
}

var uploadRangePattern = regexp.MustCompile(`^0-(-1|[0-9]+)$`)

// checkUploadRange checks the Range header of an upload holding size
// bytes: "0-<last byte>" (spec: Pushing a blob in chunks). The spec has
// no form for an empty upload; "0-0" is what registries send and what
// clients parse, and "0--1" parses too.
func checkUploadRange(t *testing.T, resp *response, size int) {
	t.Helper()
	got := resp.header.Get("Range")
	if size == 0 {
		if !uploadRangePattern.MatchString(got) || (got != "0-0" && got != "0--1") {
			t.Errorf("Range of an empty upload: got %q, want \"0-0\"\n%s", got, resp)
		}
		return
	}
	if want := fmt.Sprintf("0-%d", size-1); got != want {
		t.Errorf("Range: got %q, want %q\n%s", got, want, resp)
	}
}

// pushStreamed pushes b with one PATCH without Content-Range or
// Content-Length, sent with chunked transfer encoding, then a PUT
// (spec: the streamed upload clients such as docker use).
func (s *suite) pushStreamed(t *testing.T, repo string, b blob) *response {
	t.Helper()
	loc, _ := s.startUpload(t, repo)
	resp := s.c.do(t, request{
		method: http.MethodPatch,
		url:    loc,
		header: headers("Content-Type", mtOctetStream),
		body:   b.data,
		stream: true,
	})
	s.checkChunkAccepted(t, resp, repo, len(b.data))
	loc = resp.wantLocation(t)
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), nil, "Content-Type", mtOctetStream)
}

// pushPatchNoRange pushes b with one PATCH that has a Content-Length but
// no Content-Range, as the older official suite does, then a PUT.
func (s *suite) pushPatchNoRange(t *testing.T, repo string, b blob) *response {
	t.Helper()
	loc, _ := s.startUpload(t, repo)
	resp := s.c.send(t, http.MethodPatch, loc, b.data, "Content-Type", mtOctetStream)
	s.checkChunkAccepted(t, resp, repo, len(b.data))
	loc = resp.wantLocation(t)
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), nil, "Content-Type", mtOctetStream)
}

// pushDigestAlgorithm starts the upload with the digest-algorithm
// parameter (end-4c), then sends the blob in the PUT.
func (s *suite) pushDigestAlgorithm(t *testing.T, repo string, b blob) *response {
	t.Helper()
	resp := s.c.send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest-algorithm="+string(b.desc.Digest.Algorithm()), nil)
	resp.wantStatus(t, http.StatusAccepted)
	loc := resp.wantLocation(t)
	checkUploadLocation(t, resp, repo, loc)
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data, "Content-Type", mtOctetStream)
}

// checkBlobCreated checks the answer that completes an upload, then that
// the blob can be read at its Location and in repo.
func (s *suite) checkBlobCreated(t *testing.T, resp *response, repo string, b blob) {
	t.Helper()
	resp.wantStatus(t, http.StatusCreated)
	loc := resp.wantLocation(t)
	resp.checkHeader(t, "Docker-Content-Digest", b.desc.Digest.String())
	got := s.c.get(t, loc)
	if got.checkStatus(t, http.StatusOK) {
		got.checkBody(t, b.data)
	}
	s.checkBlobPullable(t, repo, b)
}

// testUploadStatus checks GET on an upload location (end-13).
func (s *suite) testUploadStatus(t *testing.T, repo string, algo digest.Algorithm) {
	b := randomBlob(algo, 3000)
	loc, _ := s.startUpload(t, repo)
	status := func(t *testing.T, size int) string {
		t.Helper()
		resp := s.c.get(t, loc)
		resp.wantStatus(t, http.StatusNoContent)
		resp.checkNoBody(t)
		newLoc := resp.wantLocation(t)
		checkUploadLocation(t, resp, repo, newLoc)
		checkUploadRange(t, resp, size)
		return newLoc
	}
	loc = status(t, 0)
	resp := s.c.send(t, http.MethodPatch, loc, b.data[:1000],
		"Content-Type", mtOctetStream, "Content-Range", "0-999")
	s.checkChunkAccepted(t, resp, repo, 1000)
	loc = resp.wantLocation(t)
	loc = status(t, 1000)
	resp = s.c.send(t, http.MethodPatch, loc, b.data[1000:],
		"Content-Type", mtOctetStream, "Content-Range", fmt.Sprintf("1000-%d", len(b.data)-1))
	s.checkChunkAccepted(t, resp, repo, len(b.data))
	loc = status(t, len(b.data))
	resp = s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), nil)
	s.checkBlobCreated(t, resp, repo, b)
}

// testInterleaved checks that uploads in progress at the same time, in
// one repository and of the same size, keep apart.
func (s *suite) testInterleaved(t *testing.T, repo string, algo digest.Algorithm) {
	const n, chunk = 3, 700
	blobs := make([]blob, n)
	locs := make([]string, n)
	for i := range n {
		blobs[i] = randomBlob(algo, 3*chunk)
		locs[i], _ = s.startUpload(t, repo)
	}
	for start := 0; start < 3*chunk; start += chunk {
		for i := range n {
			resp := s.c.send(t, http.MethodPatch, locs[i], blobs[i].data[start:start+chunk],
				"Content-Type", mtOctetStream,
				"Content-Range", fmt.Sprintf("%d-%d", start, start+chunk-1))
			s.checkChunkAccepted(t, resp, repo, start+chunk)
			locs[i] = resp.wantLocation(t)
		}
	}
	for i := n - 1; i >= 0; i-- {
		resp := s.c.send(t, http.MethodPut, withDigest(t, locs[i], blobs[i].desc.Digest), nil)
		s.checkBlobCreated(t, resp, repo, blobs[i])
	}
}

// testOutOfOrder checks that chunks out of order are refused with 416
// and leave the upload usable (spec: Pushing a blob in chunks).
func (s *suite) testOutOfOrder(t *testing.T, repo string, algo digest.Algorithm) {
	const chunk = 1024
	patch := func(t *testing.T, loc string, data []byte, start int) *response {
		t.Helper()
		return s.c.send(t, http.MethodPatch, loc, data[start:min(start+chunk, len(data))],
			"Content-Type", mtOctetStream,
			"Content-Range", fmt.Sprintf("%d-%d", start, min(start+chunk, len(data))-1))
	}
	// status checks the upload is alive at size bytes and returns its
	// location.
	status := func(t *testing.T, loc string, size int) string {
		t.Helper()
		resp := s.c.get(t, loc)
		resp.wantStatus(t, http.StatusNoContent)
		checkUploadRange(t, resp, size)
		return resp.wantLocation(t)
	}
	t.Run("FirstChunkNotAtZero", func(t *testing.T) {
		b := randomBlob(algo, 3*chunk-5)
		loc, _ := s.startUpload(t, repo)
		resp := patch(t, loc, b.data, chunk)
		resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
		loc = status(t, loc, 0)
		s.checkBlobCreated(t, s.finishChunked(t, repo, loc, b, 0, chunk), repo, b)
	})
	t.Run("SkipAhead", func(t *testing.T) {
		b := randomBlob(algo, 3*chunk-5)
		loc, _ := s.startUpload(t, repo)
		resp := patch(t, loc, b.data, 0)
		s.checkChunkAccepted(t, resp, repo, chunk)
		loc = resp.wantLocation(t)
		resp = patch(t, loc, b.data, 2*chunk)
		resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
		loc = status(t, loc, chunk)
		s.checkBlobCreated(t, s.finishChunked(t, repo, loc, b, chunk, chunk), repo, b)
	})
	t.Run("RetryPreviousChunkAtStaleLocation", func(t *testing.T) {
		// A client that lost the answer to a PATCH retries it at the
		// location it had; the registry must refuse the duplicate and
		// still answer the status at that location.
		b := randomBlob(algo, 3*chunk-5)
		first, _ := s.startUpload(t, repo)
		resp := patch(t, first, b.data, 0)
		s.checkChunkAccepted(t, resp, repo, chunk)
		resp = patch(t, first, b.data, 0)
		resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
		loc := status(t, first, chunk)
		s.checkBlobCreated(t, s.finishChunked(t, repo, loc, b, chunk, chunk), repo, b)
	})
	t.Run("BackToStart", func(t *testing.T) {
		b := randomBlob(algo, 3*chunk-5)
		loc, _ := s.startUpload(t, repo)
		resp := patch(t, loc, b.data, 0)
		s.checkChunkAccepted(t, resp, repo, chunk)
		loc = resp.wantLocation(t)
		resp = patch(t, loc, b.data, chunk)
		s.checkChunkAccepted(t, resp, repo, 2*chunk)
		loc = resp.wantLocation(t)
		resp = patch(t, loc, b.data, 0)
		resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
		loc = status(t, loc, 2*chunk)
		s.checkBlobCreated(t, s.finishChunked(t, repo, loc, b, 2*chunk, chunk), repo, b)
	})
	t.Run("FinalChunkInPUTOutOfOrder", func(t *testing.T) {
		b := randomBlob(algo, 3*chunk-5)
		loc, _ := s.startUpload(t, repo)
		resp := patch(t, loc, b.data, 0)
		s.checkChunkAccepted(t, resp, repo, chunk)
		loc = resp.wantLocation(t)
		last := 2 * chunk
		resp = s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data[last:],
			"Content-Type", mtOctetStream,
			"Content-Range", fmt.Sprintf("%d-%d", last, len(b.data)-1))
		resp.wantStatus(t, http.StatusRequestedRangeNotSatisfiable)
		// The blob must not exist, and the upload must carry on.
		head := s.c.head(t, "/v2/"+repo+"/blobs/"+b.desc.Digest.String())
		head.checkStatus(t, http.StatusNotFound)
		loc = status(t, loc, chunk)
		s.checkBlobCreated(t, s.finishChunked(t, repo, loc, b, chunk, chunk), repo, b)
	})
}

// finishChunked uploads the rest of b from offset in chunks with PATCH
// and closes the upload with an empty PUT, returning the PUT's answer.
func (s *suite) finishChunked(t *testing.T, repo, loc string, b blob, offset, chunk int) *response {
	t.Helper()
	for start := offset; start < len(b.data); start += chunk {
		end := min(start+chunk, len(b.data))
		resp := s.c.send(t, http.MethodPatch, loc, b.data[start:end],
			"Content-Type", mtOctetStream,
			"Content-Range", fmt.Sprintf("%d-%d", start, end-1))
		s.checkChunkAccepted(t, resp, repo, end)
		loc = resp.wantLocation(t)
	}
	return s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), nil)
}

// testCancel checks DELETE on an upload location (end-14).
func (s *suite) testCancel(t *testing.T, repo string, algo digest.Algorithm) {
	b := randomBlob(algo, 600)
	t.Run("Fresh", func(t *testing.T) {
		loc, _ := s.startUpload(t, repo)
		resp := s.c.del(t, loc, "Content-Length", "0")
		resp.wantStatus(t, http.StatusNoContent)
		resp = s.c.get(t, loc)
		resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
	})
	t.Run("AfterChunk", func(t *testing.T) {
		loc, _ := s.startUpload(t, repo)
		resp := s.c.send(t, http.MethodPatch, loc, b.data[:300],
			"Content-Type", mtOctetStream, "Content-Range", "0-299")
		s.checkChunkAccepted(t, resp, repo, 300)
		loc = resp.wantLocation(t)
		resp = s.c.del(t, loc)
		resp.wantStatus(t, http.StatusNoContent)
		t.Run("StatusAfterCancel", func(t *testing.T) {
			resp := s.c.get(t, loc)
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
		})
		t.Run("PatchAfterCancel", func(t *testing.T) {
			resp := s.c.send(t, http.MethodPatch, loc, b.data[300:],
				"Content-Type", mtOctetStream, "Content-Range", fmt.Sprintf("300-%d", len(b.data)-1))
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
		})
		t.Run("PutAfterCancel", func(t *testing.T) {
			resp := s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data[300:])
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
			head := s.c.head(t, "/v2/"+repo+"/blobs/"+b.desc.Digest.String())
			head.checkStatus(t, http.StatusNotFound)
		})
		t.Run("CancelTwice", func(t *testing.T) {
			resp := s.c.del(t, loc)
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
		})
	})
	t.Run("AfterCompletion", func(t *testing.T) {
		// A completed upload is gone: its location is not an upload
		// any more.
		c := randomBlob(algo, 100)
		loc, _ := s.startUpload(t, repo)
		resp := s.c.send(t, http.MethodPut, withDigest(t, loc, c.desc.Digest), c.data)
		s.checkBlobCreated(t, resp, repo, c)
		resp = s.c.get(t, loc)
		resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
	})
}

// testUnknownUpload checks requests to an upload that never existed.
func (s *suite) testUnknownUpload(t *testing.T, repo string) {
	u := "/v2/" + repo + "/blobs/uploads/" + "3f2a61c8-5b2e-4c1d-9d5e-" + randomID()[:10] + "00"
	dig := digest.FromString("x")
	cases := []struct {
		name   string
		method string
		url    string
		body   []byte
		hdr    []string
	}{
		{"Status", http.MethodGet, u, nil, nil},
		{"Patch", http.MethodPatch, u, []byte("abc"), []string{"Content-Type", mtOctetStream, "Content-Range", "0-2"}},
		{"Put", http.MethodPut, u + "?digest=" + dig.String(), []byte("x"), []string{"Content-Type", mtOctetStream}},
		{"Cancel", http.MethodDelete, u, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp := s.c.send(t, c.method, c.url, c.body, c.hdr...)
			resp.wantError(t, []int{http.StatusNotFound}, "BLOB_UPLOAD_UNKNOWN")
		})
	}
}

// testWrongDigest checks that content that does not match the digest is
// refused with 400 DIGEST_INVALID and not stored, whatever the upload
// method (spec: Pushing blobs).
func (s *suite) testWrongDigest(t *testing.T, repo string, algo digest.Algorithm) {
	cases := []struct {
		name string
		push func(t *testing.T, repo string, b blob) *response
	}{
		{"SinglePOST", s.pushSinglePost},
		{"POSTThenPUT", s.pushPostPut},
		{"Chunked", func(t *testing.T, repo string, b blob) *response {
			return s.pushChunked(t, repo, b, 1024, false)
		}},
		{"ChunkedLastChunkInPUT", func(t *testing.T, repo string, b blob) *response {
			return s.pushChunked(t, repo, b, 1024, true)
		}},
		{"Streamed", s.pushStreamed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := randomBlob(algo, 3*1024-5)
			claimed := b.desc.Digest
			// The content changes; the digest claimed stays.
			b.data = append(b.data, "oh no"...)
			resp := c.push(t, repo, b)
			resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID")
			head := s.c.head(t, "/v2/"+repo+"/blobs/"+claimed.String())
			head.checkStatus(t, http.StatusNotFound)
		})
	}
	t.Run("OtherAlgorithmDigest", func(t *testing.T) {
		// The right content with the digest of another algorithm's
		// hash of different content.
		b := randomBlob(algo, 100)
		other := digest.SHA256
		if algo == digest.SHA256 {
			other = digest.SHA512
		}
		claimed := other.FromBytes(randomBytes(10))
		resp := s.pushPostPut(t, repo, withClaimedDigest(b, claimed))
		resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID")
	})
}

// withClaimedDigest returns b claiming the digest d.
func withClaimedDigest(b blob, d digest.Digest) blob {
	b.desc.Digest = d
	return b
}

// testInvalidDigest checks that malformed and unsupported digests are
// refused with 400 (spec: Pushing blobs: "if the client provided digest
// is invalid or uses an unsupported algorithm").
func (s *suite) testInvalidDigest(t *testing.T, repo string, algo digest.Algorithm) {
	b := randomBlob(algo, 100)
	hex := b.desc.Digest.Encoded()
	invalid := []struct {
		name   string
		digest string
	}{
		{"NotHex", string(algo) + ":" + strings.Repeat("z", len(hex))},
		{"TooShort", string(algo) + ":" + hex[:len(hex)-1]},
		{"UpperCaseHex", string(algo) + ":" + strings.ToUpper(hex)},
		{"NoAlgorithm", hex},
		{"UnsupportedAlgorithm", "md5:d41d8cd98f00b204e9800998ecf8427e"},
		{"Empty", ""},
	}
	for _, d := range invalid {
		t.Run(d.name, func(t *testing.T) {
			t.Run("PUT", func(t *testing.T) {
				loc, _ := s.startUpload(t, repo)
				resp := s.c.send(t, http.MethodPut, withQuery(t, loc, "digest", d.digest), b.data, "Content-Type", mtOctetStream)
				resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID", "BLOB_UPLOAD_INVALID")
			})
			if d.digest == "" {
				return // a POST with an empty digest is a plain POST
			}
			t.Run("SinglePOST", func(t *testing.T) {
				resp := s.c.send(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+url.QueryEscape(d.digest), b.data,
					"Content-Type", mtOctetStream)
				if s.opts.AllowSinglePostFallback && resp.status == http.StatusAccepted {
					// A registry without single-POST uploads may ignore
					// the digest until the PUT.
					return
				}
				resp.wantError(t, []int{http.StatusBadRequest}, "DIGEST_INVALID")
			})
			t.Run("GET", func(t *testing.T) {
				resp := s.c.get(t, "/v2/"+repo+"/blobs/"+d.digest)
				resp.wantStatus(t, http.StatusBadRequest, http.StatusNotFound)
			})
		})
	}
}

// testMount checks cross-repository mounts (spec: Mounting a blob from
// another repository, end-11).
func (s *suite) testMount(t *testing.T, algo digest.Algorithm) {
	from := s.crossRepo("source-" + string(algo))
	b := randomBlob(algo, 700)
	s.checkBlobCreated(t, s.pushPostPut(t, from, b), from, b)
	mountURL := func(to string, d digest.Digest, from string) string {
		q := url.Values{"mount": {d.String()}}
		if from != "" {
			q.Set("from", from)
		}
		return "/v2/" + to + "/blobs/uploads/?" + q.Encode()
	}
	t.Run("WithFrom", func(t *testing.T) {
		to := s.repo("mount-to-" + string(algo))
		resp := s.c.send(t, http.MethodPost, mountURL(to, b.desc.Digest, from), nil, "Content-Length", "0")
		resp.wantStatus(t, http.StatusCreated)
		loc := resp.wantLocation(t)
		if u, err := url.Parse(loc); err != nil || u.Path != "/v2/"+to+"/blobs/"+b.desc.Digest.String() {
			t.Errorf("Location %q is not /v2/%s/blobs/%s\n%s", loc, to, b.desc.Digest, resp)
		}
		resp.checkHeader(t, "Docker-Content-Digest", b.desc.Digest.String())
		got := s.c.get(t, loc)
		if got.checkStatus(t, http.StatusOK) {
			got.checkBody(t, b.data)
		}
		s.checkBlobPullable(t, to, b)
		// The source keeps the blob.
		s.checkBlobPullable(t, from, b)
	})
	t.Run("WithFromUnknownBlob", func(t *testing.T) {
		// A registry that cannot mount starts an upload instead.
		to := s.repo("mount-missing-" + string(algo))
		c := randomBlob(algo, 300)
		resp := s.c.send(t, http.MethodPost, mountURL(to, c.desc.Digest, from), nil, "Content-Length", "0")
		resp.wantStatus(t, http.StatusAccepted)
		loc := resp.wantLocation(t)
		checkUploadLocation(t, resp, to, loc)
		resp = s.c.send(t, http.MethodPut, withDigest(t, loc, c.desc.Digest), c.data, "Content-Type", mtOctetStream)
		s.checkBlobCreated(t, resp, to, c)
	})
	t.Run("WithFromUnknownRepository", func(t *testing.T) {
		to := s.repo("mount-norepo-" + string(algo))
		resp := s.c.send(t, http.MethodPost, mountURL(to, b.desc.Digest, s.crossRepo("never-pushed")), nil)
		resp.wantStatus(t, http.StatusAccepted)
		checkUploadLocation(t, resp, to, resp.wantLocation(t))
	})
	t.Run("WithoutFromUnknownBlob", func(t *testing.T) {
		to := s.repo("mount-anon-missing-" + string(algo))
		c := randomBlob(algo, 300)
		resp := s.c.send(t, http.MethodPost, mountURL(to, c.desc.Digest, ""), nil)
		resp.wantStatus(t, http.StatusAccepted)
		checkUploadLocation(t, resp, to, resp.wantLocation(t))
	})
	t.Run("WithoutFrom", func(t *testing.T) {
		// The registry may find the blob by itself (201) or start an
		// upload (202); either way the blob must end up there.
		to := s.repo("mount-anon-" + string(algo))
		resp := s.c.send(t, http.MethodPost, mountURL(to, b.desc.Digest, ""), nil)
		resp.wantStatus(t, http.StatusCreated, http.StatusAccepted)
		loc := resp.wantLocation(t)
		if resp.status == http.StatusAccepted {
			checkUploadLocation(t, resp, to, loc)
			resp = s.c.send(t, http.MethodPut, withDigest(t, loc, b.desc.Digest), b.data, "Content-Type", mtOctetStream)
		}
		s.checkBlobCreated(t, resp, to, b)
	})
}
