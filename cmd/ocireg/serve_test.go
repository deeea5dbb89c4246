package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
)

// testServer is an "ocireg serve" run in the test's process by run, as
// the ocireg command would run it.
type testServer struct {
	addr   string
	stderr *toolstest.Buffer
	stop   context.CancelFunc
	done   chan struct{} // closed when run has returned code
	code   int
}

// startServe runs "ocireg serve --addr 127.0.0.1:0 ARGS..." until the
// test ends, and waits for it to listen.
func startServe(t *testing.T, args ...string) *testServer {
	addrFile := filepath.Join(t.TempDir(), "addr")
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{stderr: &toolstest.Buffer{}, stop: cancel, done: make(chan struct{})}
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--addr-file", addrFile}, args...)
	go func() {
		s.code = run(ctx, args, io.Discard, s.stderr)
		close(s.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Errorf("ocireg serve did not stop within 20s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, err := os.ReadFile(addrFile)
		if err == nil {
			s.addr = strings.TrimSpace(string(data))
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("ocireg serve exited with %d:\n%s", s.code, s.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ocireg serve is not listening after 20s:\n%s", s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pushBlob pushes data to repo monolithically and returns its digest.
func (s *testServer) pushBlob(t *testing.T, repo string, data []byte) digest.Digest {
	dg := digest.FromBytes(data)
	resp, err := http.Post(fmt.Sprintf("http://%s/v2/%s/blobs/uploads/?digest=%s", s.addr, repo, dg), "application/octet-stream", bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusCreated))
	return dg
}

// dialSmall connects to addr with a small receive buffer, so that little
// of a response that the client does not read fits in its socket.
func dialSmall(t *testing.T, addr string) net.Conn {
	conn, err := net.Dial("tcp", addr)
	qt.Assert(t, qt.IsNil(err))
	t.Cleanup(func() { conn.Close() })
	// Set after connecting, the buffer still stops the kernel growing
	// it; the blob is many times what any buffer could hold anyway.
	qt.Assert(t, qt.IsNil(conn.(*net.TCPConn).SetReadBuffer(16<<10)))
	return conn
}

// TestServeWriteTimeout checks that serve --write-timeout cuts off a
// client that stops reading a download, and not one that keeps reading
// for longer than the timeout in all.
func TestServeWriteTimeout(t *testing.T) {
	// Long enough that a loaded machine's scheduling delays do not look
	// like a client that stopped reading.
	const timeout = time.Second
	s := startServe(t, "--mem", "--write-timeout", timeout.String())
	// Far more than socket buffers hold (a few MiB on each side).
	const size = 64 << 20
	blob := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	dg := s.pushBlob(t, "big", blob)
	request := fmt.Sprintf("GET /v2/big/blobs/%s HTTP/1.1\r\nHost: %s\r\n\r\n", dg, s.addr)

	t.Run("Stalled", func(t *testing.T) {
		conn := dialSmall(t, s.addr)
		_, err := io.WriteString(conn, request)
		qt.Assert(t, qt.IsNil(err))
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
		qt.Assert(t, qt.Equals(resp.ContentLength, int64(size)))
		// Stop reading for several timeouts.
		time.Sleep(5 * timeout)
		// The server gave up: what was in the buffers arrives, then
		// the end of the connection, long before the whole blob.
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := io.Copy(io.Discard, resp.Body)
		qt.Check(t, qt.IsTrue(errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)), qt.Commentf("err %v", err))
		qt.Check(t, qt.IsTrue(n < size/2), qt.Commentf("read %d of %d bytes", n, size))
		// The request log shows the response cut short (the log is
		// written out within flushEvery of the request's end).
		logLine := regexp.MustCompile(`path=/v2/big/blobs/` + dg.String() + ` status=200 bytes=(\d+) `)
		var m []string
		for deadline := time.Now().Add(10 * time.Second); m == nil && time.Now().Before(deadline); {
			if m = logLine.FindStringSubmatch(s.stderr.String()); m == nil {
				time.Sleep(flushEvery)
			}
		}
		qt.Assert(t, qt.HasLen(m, 2), qt.Commentf("%s", s.stderr))
		sent, _ := strconv.ParseInt(m[1], 10, 64)
		qt.Check(t, qt.IsTrue(sent < size/2 && sent >= n), qt.Commentf("sent %d, read %d", sent, n))
	})

	t.Run("Steady", func(t *testing.T) {
		conn := dialSmall(t, s.addr)
		_, err := io.WriteString(conn, request)
		qt.Assert(t, qt.IsNil(err))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
		// 2 MiB every 100ms: 3.2s in all, more than three timeouts,
		// while each 1 MiB step of the server's is taken well within
		// one.
		start := time.Now()
		var n int64
		for {
			m, err := io.CopyN(io.Discard, resp.Body, 2<<20)
			n += m
			if err == io.EOF {
				break
			}
			qt.Assert(t, qt.IsNil(err), qt.Commentf("after %d bytes", n))
			time.Sleep(100 * time.Millisecond)
		}
		qt.Check(t, qt.Equals(n, int64(size)))
		qt.Check(t, qt.IsTrue(time.Since(start) > 2*timeout))
	})
}

// stalledUpload starts a request with a body of 1000 bytes and sends
// only 10 of them, then nothing.
func stalledUpload(t *testing.T, addr, method, path string) net.Conn {
	conn, err := net.Dial("tcp", addr)
	qt.Assert(t, qt.IsNil(err))
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000\r\n\r\n0123456789", method, path, addr)
	qt.Assert(t, qt.IsNil(err))
	return conn
}

// startUpload starts a chunked upload to repo and returns its location.
func (s *testServer) startUpload(t *testing.T, repo string) string {
	resp, err := http.Post("http://"+s.addr+"/v2/"+repo+"/blobs/uploads/", "", nil)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	loc := resp.Header.Get("Location")
	qt.Assert(t, qt.Not(qt.Equals(loc, "")))
	return strings.TrimPrefix(loc, "http://"+s.addr)
}

// waitEnd reads conn until the server answers and closes it, or 10s
// pass, and returns what it read and how long that took.
func waitEnd(conn net.Conn) (string, time.Duration, error) {
	start := time.Now()
	conn.SetReadDeadline(start.Add(10 * time.Second))
	data, err := io.ReadAll(conn)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	return string(data), time.Since(start), err
}

// TestServeReadTimeout checks that serve --read-timeout cuts off a PATCH
// or PUT whose body stalls, and that the server serves on.
func TestServeReadTimeout(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s := startServe(t, "--mem", "--read-timeout", timeout.String())
	for _, method := range []string{"PATCH", "PUT"} {
		t.Run(method, func(t *testing.T) {
			loc := s.startUpload(t, "stall")
			if method == "PUT" {
				loc += "&digest=" + digest.FromString("whatever").String()
			}
			conn := stalledUpload(t, s.addr, method, loc)
			got, d, err := waitEnd(conn)
			qt.Assert(t, qt.IsNil(err), qt.Commentf("after %v", d))
			qt.Check(t, qt.IsTrue(d >= timeout*3/4), qt.Commentf("cut off after %v", d))
			// The client is not waiting for anything: if the answer
			// reaches it, it is an error.
			if got != "" {
				qt.Check(t, qt.Matches(got, `(?s)HTTP/1\.1 [45]\d\d .*`))
			}
		})
	}
	resp, err := http.Get("http://" + s.addr + "/v2/")
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Check(t, qt.Equals(resp.StatusCode, http.StatusOK))
}

// TestServeShutdownTimeout checks that serve --shutdown-timeout ends a
// request that hangs on shutdown, and that serve then fails.
func TestServeShutdownTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := startServe(t, "--mem", "--read-timeout", "1h", "--shutdown-timeout", timeout.String())
	conn := stalledUpload(t, s.addr, "PATCH", s.startUpload(t, "hang"))
	// Let the request reach its handler before shutting down.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.stderr.String(), "method=POST") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	s.stop()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("serve still running 10s after shutdown began:\n%s", s.stderr)
	}
	d := time.Since(start)
	qt.Check(t, qt.Equals(s.code, exitFailure))
	qt.Check(t, qt.IsTrue(d >= timeout), qt.Commentf("returned after %v", d))
	qt.Check(t, qt.StringContains(s.stderr.String(), "shutting down: context deadline exceeded"))
	// The hung request's connection was closed.
	_, _, err := waitEnd(conn)
	qt.Check(t, qt.IsNil(err))
}

// TestServeMaxHeaderBytes checks that --max-header-bytes, or headerBytes
// in the config file's limits, bounds a request's headers: a request
// with more is answered 431.
func TestServeMaxHeaderBytes(t *testing.T) {
	config := filepath.Join(t.TempDir(), "c.yaml")
	err := os.WriteFile(config, []byte("limits: {headerBytes: 16KiB, headerTimeout: 5s}\nregistry: {kind: mem}\n"), 0o666)
	qt.Assert(t, qt.IsNil(err))
	tests := []struct {
		name  string
		args  []string
		limit int
	}{
		{"Default", []string{"--mem"}, defaultHeaderBytes},
		{"Flag", []string{"--mem", "--max-header-bytes", "8KiB"}, 8 << 10},
		{"Config", []string{"--config", config}, 16 << 10},
		{"FlagOverConfig", []string{"--config", config, "--max-header-bytes", "32KiB"}, 32 << 10},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s := startServe(t, test.args...)
			get := func(headerBytes int) int {
				req, err := http.NewRequest("GET", "http://"+s.addr+"/v2/", nil)
				qt.Assert(t, qt.IsNil(err))
				req.Header.Set("X-Filler", strings.Repeat("a", headerBytes))
				resp, err := http.DefaultClient.Do(req)
				qt.Assert(t, qt.IsNil(err))
				resp.Body.Close()
				return resp.StatusCode
			}
			// net/http lets 4 KiB more through than the limit.
			qt.Check(t, qt.Equals(get(test.limit-1024), http.StatusOK))
			qt.Check(t, qt.Equals(get(test.limit+8<<10), http.StatusRequestHeaderFieldsTooLarge))
		})
	}
}

// TestServeMaxUploads checks that --max-uploads, or uploads in the
// config file's limits, bounds the uploads in progress: one more is
// answered 429 with Retry-After.
func TestServeMaxUploads(t *testing.T) {
	config := filepath.Join(t.TempDir(), "c.yaml")
	err := os.WriteFile(config, []byte("limits: {uploads: 2, memUploadBytes: 1MiB}\nregistry: {kind: mem}\n"), 0o666)
	qt.Assert(t, qt.IsNil(err))
	tests := []struct {
		name  string
		args  []string
		limit int
	}{
		{"Flag", []string{"--mem", "--max-uploads", "3"}, 3},
		{"Config", []string{"--config", config}, 2},
		{"FlagOverConfig", []string{"--config", config, "--max-uploads", "4"}, 4},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s := startServe(t, test.args...)
			for i := range test.limit + 1 {
				resp, err := http.Post("http://"+s.addr+"/v2/r/blobs/uploads/", "", nil)
				qt.Assert(t, qt.IsNil(err))
				resp.Body.Close()
				if i < test.limit {
					qt.Check(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
				} else {
					qt.Check(t, qt.Equals(resp.StatusCode, http.StatusTooManyRequests))
					qt.Check(t, qt.Not(qt.Equals(resp.Header.Get("Retry-After"), "")))
				}
			}
		})
	}
	t.Run("ConfigMemUploadBytes", func(t *testing.T) {
		s := startServe(t, "--config", config)
		// A blob pushed in one request whose declared size does not
		// fit is refused before it is read.
		resp, err := http.Post("http://"+s.addr+"/v2/r/blobs/uploads/?digest=sha256:"+strings.Repeat("0", 64), "application/octet-stream", bytes.NewReader(make([]byte, 2<<20)))
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusTooManyRequests))
	})
}
