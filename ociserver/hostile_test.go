package ociserver_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
)

// The tests in this file play clients that mean harm or break: they lie
// about lengths, spell names so as to reach other repositories, send more
// than the limits allow, and abandon what they start. Each runs over HTTP
// against the server over the in-memory and the on-disk registry.

// backends returns the registries that the hostile tests run against,
// by name.
func backends(t *testing.T) map[string]func(t *testing.T) ociregistry.Interface {
	return map[string]func(t *testing.T) ociregistry.Interface{
		"mem": func(t *testing.T) ociregistry.Interface { return ocimem.New() },
		"fs": func(t *testing.T) ociregistry.Interface {
			r, err := ocifs.New(t.TempDir(), nil)
			qt.Assert(t, qt.IsNil(err))
			return r
		},
	}
}

// rawExchange sends head (the request line and headers, without the
// blank line that ends them) and then body on a connection of its own
// to the server at base, closes the sending side when closeWrite is set,
// and returns the response, or nil when the server closed the connection
// without one.
func rawExchange(t *testing.T, base, head string, body []byte, closeWrite bool) *response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	qt.Assert(t, qt.IsNil(err))
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	_, err = io.WriteString(conn, head+"\r\n\r\n")
	qt.Assert(t, qt.IsNil(err))
	_, err = conn.Write(body)
	qt.Assert(t, qt.IsNil(err))
	if closeWrite {
		qt.Assert(t, qt.IsNil(conn.(*net.TCPConn).CloseWrite()))
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return &response{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

// TestHostileLyingContentLength checks that a PUT or POST that declares
// more bytes than it sends, and then closes its side of the connection,
// stores nothing, and that an upload session it was for can be carried on
// from where the server says it is.
func TestHostileLyingContentLength(t *testing.T) {
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := newBackend(t)
			base := newServer(t, r, nil)
			content := strings.Repeat("0123456789", 100)
			d := digest.FromString(content)

			// A single-request upload cut short.
			head := fmt.Sprintf("POST /v2/foo/blobs/uploads/?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048576", d)
			if resp := rawExchange(t, base, head, []byte(content[:10]), true); resp != nil {
				checkError(t, *resp, http.StatusBadRequest, "BLOB_UPLOAD_INVALID")
			}
			resp := do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + d.String()})
			qt.Check(t, qt.Equals(resp.status, http.StatusNotFound))

			// The last PUT of a session cut short, and a PATCH.
			resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
			loc := resp.header.Get("Location")
			resp = do(t, base, request{method: "PATCH", path: loc, body: content[:100], header: map[string]string{"Content-Range": "0-99"}})
			qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))
			for _, head := range []string{
				fmt.Sprintf("PUT %s?digest=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576", loc, d),
				fmt.Sprintf("PATCH %s HTTP/1.1\r\nHost: x\r\nContent-Length: 900", loc),
			} {
				if resp := rawExchange(t, base, head, []byte(content[100:110]), true); resp != nil {
					checkError(t, *resp, http.StatusBadRequest, "BLOB_UPLOAD_INVALID")
				}
				resp := do(t, base, request{method: "HEAD", path: "/v2/foo/blobs/" + d.String()})
				qt.Check(t, qt.Equals(resp.status, http.StatusNotFound))
			}

			// The session is still there and says how far it got:
			// the client carries on from there.
			resp = do(t, base, request{method: "GET", path: loc})
			qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
			rng := resp.header.Get("Range")
			_, last, ok := strings.Cut(rng, "-")
			qt.Assert(t, qt.IsTrue(ok), qt.Commentf("Range %q", rng))
			end, err := strconv.Atoi(last)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsTrue(end >= 99 && end < len(content)), qt.Commentf("Range %q", rng))
			resp = do(t, base, request{method: "PUT", path: loc + "?digest=" + d.String(), body: content[end+1:],
				header: map[string]string{"Content-Range": fmt.Sprintf("%d-%d", end+1, len(content)-1)}})
			qt.Assert(t, qt.Equals(resp.status, http.StatusCreated), qt.Commentf("body %s", resp.body))
			resp = do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + d.String()})
			qt.Check(t, qt.Equals(resp.body, content))
		})
	}
}

// TestHostileEncodedNames checks, over each backend, that names spelt
// with escapes reach no repository and create none.
func TestHostileEncodedNames(t *testing.T) {
	manifestType := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := newBackend(t)
			base := newServer(t, r, nil)
			manifest := string(imageManifest(t, r, "a/b", "x", nil, ""))
			for _, rq := range []request{
				{method: "PUT", path: "/v2/a%2fb/manifests/latest", header: manifestType, body: manifest},
				{method: "PUT", path: "/v2/a%2Fb/manifests/latest", header: manifestType, body: manifest},
				{method: "PUT", path: "/v2/a/%2e%2e/b/manifests/latest", header: manifestType, body: manifest},
				{method: "POST", path: "/v2/%2e%2e/blobs/uploads/"},
				{method: "POST", path: "/v2/%2E%2E%2F%2E%2E/blobs/uploads/?digest=" + digest.FromString("x").String(), body: "x"},
				{method: "GET", path: "/v2/a%2fb/tags/list"},
			} {
				resp := do(t, base, rq)
				checkError(t, resp, http.StatusBadRequest, "NAME_INVALID")
			}
			// Only a/b, which the test pushed blobs to, exists, and
			// it has no tag.
			var repos []string
			for repo, err := range r.Repositories(context.Background(), "") {
				qt.Assert(t, qt.IsNil(err))
				repos = append(repos, repo)
			}
			qt.Check(t, qt.DeepEquals(repos, []string{"a/b"}))
			resp := do(t, base, request{method: "GET", path: "/v2/a/b/manifests/latest"})
			checkError(t, resp, http.StatusNotFound, "MANIFEST_UNKNOWN")
		})
	}
}

// TestHostileChunkedManifest checks that a manifest sent with chunked
// transfer encoding, with no length to reject it by, far over the
// manifest size limit, is answered 413 MANIFEST_INVALID after the server
// has read little more than the limit, and stores nothing.
func TestHostileChunkedManifest(t *testing.T) {
	const limit = 64 << 10
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := newBackend(t)
			srv := httptest.NewServer(ociserver.New(r, &ociserver.Options{MaxManifestSize: limit}))
			t.Cleanup(srv.Close)
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			qt.Assert(t, qt.IsNil(err))
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			_, err = io.WriteString(conn, "PUT /v2/foo/manifests/latest HTTP/1.1\r\nHost: x\r\n"+
				"Content-Type: application/vnd.oci.image.manifest.v1+json\r\nTransfer-Encoding: chunked\r\n\r\n")
			qt.Assert(t, qt.IsNil(err))
			// Send up to 256 MiB, until the server stops reading.
			const total = 256 << 20
			var sent int64
			var wg sync.WaitGroup
			wg.Go(func() {
				chunk := fmt.Sprintf("%x\r\n%s\r\n", 32<<10, strings.Repeat(" ", 32<<10))
				for sent < total {
					if _, err := io.WriteString(conn, chunk); err != nil {
						return
					}
					sent += 32 << 10
				}
			})
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			qt.Assert(t, qt.IsNil(err))
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			checkError(t, response{status: resp.StatusCode, body: string(body)}, http.StatusRequestEntityTooLarge, "MANIFEST_INVALID")
			qt.Check(t, qt.StringContains(string(body), "bigger than the limit of 65536 bytes"))
			// The server closes the connection rather than read the
			// rest; what was sent beyond the limit is what the
			// connection's buffers held.
			conn.Close()
			wg.Wait()
			qt.Check(t, qt.IsTrue(sent < 16<<20), qt.Commentf("sent %d bytes", sent))
			t.Logf("sent %d bytes for a limit of %d", sent, limit)
			_, err = r.ResolveTag(context.Background(), "foo", "latest")
			qt.Check(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
		})
	}
}

// TestHostileUploadBytes checks that the in-memory registry's bound on
// the bytes of uploads in progress reaches the client as 429
// TOOMANYREQUESTS with Retry-After, and that the upload refused can be
// carried on once another has finished.
func TestHostileUploadBytes(t *testing.T) {
	r := ocimem.NewWithConfig(&ocimem.Config{MaxUploadBytes: 1000})
	base := newServer(t, r, nil)
	big := strings.Repeat("b", 800)
	resp := do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	loc1 := resp.header.Get("Location")
	resp = do(t, base, request{method: "PATCH", path: loc1, body: big})
	qt.Assert(t, qt.Equals(resp.status, http.StatusAccepted))

	other := strings.Repeat("o", 300)
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/?digest=" + digest.FromString(other).String(), body: other})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	qt.Check(t, qt.Equals(resp.header.Get("Retry-After"), "10"))
	resp = do(t, base, request{method: "POST", path: "/v2/foo/blobs/uploads/"})
	loc2 := resp.header.Get("Location")
	resp = do(t, base, request{method: "PATCH", path: loc2, body: other, header: map[string]string{"Content-Range": "0-299"}})
	checkError(t, resp, http.StatusTooManyRequests, "TOOMANYREQUESTS")
	qt.Check(t, qt.Equals(resp.header.Get("Retry-After"), "10"))

	resp = do(t, base, request{method: "PUT", path: loc1 + "?digest=" + digest.FromString(big).String()})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated))
	// The refused chunk is sent again from where the upload is.
	resp = do(t, base, request{method: "GET", path: loc2})
	qt.Assert(t, qt.Equals(resp.status, http.StatusNoContent))
	resp = do(t, base, request{method: "PUT", path: loc2 + "?digest=" + digest.FromString(other).String(), body: other})
	qt.Assert(t, qt.Equals(resp.status, http.StatusCreated), qt.Commentf("body %s", resp.body))
	resp = do(t, base, request{method: "GET", path: "/v2/foo/blobs/" + digest.FromString(big).String()})
	qt.Check(t, qt.Equals(resp.body, big))
}

// TestHostileAbandonedUploads starts thousands of upload sessions, writes
// to each and abandons them all, then checks that the server gives back
// what they held once they have been idle for longer than its
// UploadIdleTimeout, by cancelling them in the backend (whose own,
// longer, timeouts play no part): goroutines and open files return to
// where they were, the in-memory registry's heap too, and the backend
// holds no upload any more.
func TestHostileAbandonedUploads(t *testing.T) {
	const n = 2000
	// Long enough that no session expires between its POST and its
	// PATCH, however loaded the machine.
	const idle = 2 * time.Second
	chunk := strings.Repeat("x", 4<<10)
	for name, newBackend := range backends(t) {
		t.Run(name, func(t *testing.T) {
			r := newBackend(t)
			srv := httptest.NewServer(ociserver.New(r, &ociserver.Options{MaxUploads: n, UploadIdleTimeout: idle}))
			t.Cleanup(srv.Close)
			base := srv.URL
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
			defer client.CloseIdleConnections()
			send := func(method, path, body string) *http.Response {
				req, err := http.NewRequest(method, base+path, strings.NewReader(body))
				qt.Assert(t, qt.IsNil(err))
				resp, err := client.Do(req)
				qt.Assert(t, qt.IsNil(err))
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp
			}
			settle()
			goroutines, files, heap := runtime.NumGoroutine(), openFiles(t), heapInUse()

			var mu sync.Mutex
			var locations []string
			var wg sync.WaitGroup
			for w := range 8 {
				wg.Go(func() {
					for i := w; i < n; i += 8 {
						resp := send("POST", fmt.Sprintf("/v2/repo%d/blobs/uploads/", i%10), "")
						if resp.StatusCode != http.StatusAccepted {
							t.Errorf("POST: status %d", resp.StatusCode)
							return
						}
						loc := resp.Header.Get("Location")
						resp = send("PATCH", loc, chunk)
						if resp.StatusCode != http.StatusAccepted {
							t.Errorf("PATCH: status %d", resp.StatusCode)
							return
						}
						mu.Lock()
						locations = append(locations, loc)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			time.Sleep(idle + 200*time.Millisecond)
			// Uploads started now sweep the abandoned ones, a
			// bounded number each.
			for i := 0; ; i++ {
				resp := send("POST", "/v2/repo0/blobs/uploads/", "")
				qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
				send("DELETE", resp.Header.Get("Location"), "")
				if i*64 > n {
					break
				}
			}
			// Every session was cancelled in the backend (one in ten
			// is looked at).
			for i := 0; i < len(locations); i += 10 {
				resp := send("GET", locations[i], "")
				qt.Check(t, qt.Equals(resp.StatusCode, http.StatusNotFound), qt.Commentf("upload %s", locations[i]))
			}
			client.CloseIdleConnections()
			deadline := time.Now().Add(10 * time.Second)
			for {
				settle()
				g, f := runtime.NumGoroutine(), openFiles(t)
				if g <= goroutines+2 && f <= files+2 || time.Now().After(deadline) {
					qt.Check(t, qt.IsTrue(g <= goroutines+2), qt.Commentf("goroutines: %d before, %d after", goroutines, g))
					qt.Check(t, qt.IsTrue(f <= files+2), qt.Commentf("open files: %d before, %d after", files, f))
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if name == "mem" {
				// The sessions held 8 MiB.
				h := heapInUse()
				qt.Check(t, qt.IsTrue(h < heap+2<<20), qt.Commentf("heap in use: %d before, %d after", heap, h))
			}
		})
	}
}

// settle lets finished goroutines end and collects garbage.
func settle() {
	runtime.GC()
	runtime.Gosched()
}

// heapInUse returns the bytes of the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// openFiles returns the number of files the process has open.
func openFiles(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("cannot count open files: %v", err)
	}
	return len(entries)
}
