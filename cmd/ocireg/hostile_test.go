package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// The tests in this file play clients that are careless or hostile
// against a real "ocireg serve" process, with each backend, and check
// that the server answers them and holds bounded resources.

// backends are the flags that choose each backend of the tests here.
// The proxy's upstream is another server, in memory, started for it.
var backends = []struct {
	name  string
	args  []string
	proxy bool
}{
	{name: "fs"}, // ./ocireg-data in a fresh directory
	{name: "mem", args: []string{"--mem"}},
	{name: "proxy", args: []string{"--mem"}, proxy: true},
}

// hostileServer is an "ocireg serve" process under test.
type hostileServer struct {
	Host  string // 127.0.0.1:port
	PID   int
	mem   bool // it keeps its registry in memory
	proxy bool // it is a pull-through proxy
}

// forEachBackend runs f in a subtest for each backend, against a server
// started with the backend's flags and args. withProxy says whether f
// applies to a proxy, which refuses pushes.
func forEachBackend(t *testing.T, withProxy bool, args []string, f func(t *testing.T, srv *hostileServer)) {
	for _, b := range backends {
		if b.proxy && !withProxy {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			bargs := b.args
			if b.proxy {
				upstream := toolstest.StartOcireg(t, "--mem")
				bargs = append(bargs, "--upstream", "http://"+upstream)
			}
			host, pid := toolstest.StartOciregProcess(t, append(append([]string{}, bargs...), args...)...)
			f(t, &hostileServer{Host: host, PID: pid, mem: b.name == "mem", proxy: b.proxy})
		})
	}
}

// metricSeries returns the series of the metric family name that the
// server at host reports on /metrics, each as its label set
// ("{method="GET",...}").
func metricSeries(t *testing.T, host, name string) []string {
	resp, err := http.Get("http://" + host + "/metrics")
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	var series []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if labels, ok := strings.CutPrefix(sc.Text(), name+"{"); ok {
			labels, _, _ = strings.Cut(labels, "}")
			series = append(series, "{"+labels+"}")
		}
	}
	qt.Assert(t, qt.IsNil(sc.Err()))
	return series
}

// TestHostileInventedMethods checks that requests with methods and
// paths that no route knows add no series to /metrics beyond the
// "other" ones: every series is memory the server keeps for ever.
func TestHostileInventedMethods(t *testing.T) {
	forEachBackend(t, true, nil, func(t *testing.T, srv *hostileServer) {
		send := func(method, path string) {
			req, err := http.NewRequest(method, "http://"+srv.Host+path, nil)
			qt.Assert(t, qt.IsNil(err))
			resp, err := http.DefaultClient.Do(req)
			qt.Assert(t, qt.IsNil(err))
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		// One of each invented kind first, so that the "other" series
		// exist before counting.
		send("M", "/v2/")
		send("M", "/x")
		send("GET", "/x")
		families := []string{"ocireg_http_requests_total", "ocireg_http_request_duration_seconds_count", "ocireg_http_request_bytes_total"}
		before := map[string]int{}
		for _, f := range families {
			before[f] = len(metricSeries(t, srv.Host, f))
		}
		for i := range 300 {
			send(fmt.Sprintf("M%d", i), "/v2/")
			send("GET", fmt.Sprintf("/p%d", i))
			send(fmt.Sprintf("M%d", i), fmt.Sprintf("/v2/r/blobs/uploads/%d", i))
		}
		for _, f := range families {
			series := metricSeries(t, srv.Host, f)
			// Invented methods may still get another status for an
			// existing route: a handful at most, never one a request.
			qt.Check(t, qt.IsTrue(len(series) <= before[f]+3), qt.Commentf("%s: %d series before, %d after:\n%s", f, before[f], len(series), strings.Join(series, "\n")))
			for _, s := range series {
				qt.Check(t, qt.IsFalse(strings.Contains(s, `"M`) || strings.Contains(s, `"/p`)), qt.Commentf("%s%s", f, s))
			}
		}
	})
}

// TestHostileSlowHeaders checks that connections that send their
// request headers a byte at a time are cut off after --header-timeout,
// and that other clients are served meanwhile.
func TestHostileSlowHeaders(t *testing.T) {
	const timeout = time.Second
	forEachBackend(t, true, []string{"--header-timeout", timeout.String()}, func(t *testing.T, srv *hostileServer) {
		const slow = 50
		closed := make(chan time.Duration, slow)
		for range slow {
			conn, err := net.Dial("tcp", srv.Host)
			qt.Assert(t, qt.IsNil(err))
			t.Cleanup(func() { conn.Close() })
			start := time.Now()
			go func() {
				// Dribble a header that never ends, until the server
				// closes the connection.
				io.WriteString(conn, "GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: ")
				for {
					if _, err := conn.Write([]byte("a")); err != nil {
						break
					}
					conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					if _, err := conn.Read(make([]byte, 1)); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						break
					}
				}
				closed <- time.Since(start)
			}()
		}
		// Others are served while the slow ones hold their connections.
		for range 20 {
			resp, err := http.Get("http://" + srv.Host + "/v2/")
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
		}
		// Every slow connection is closed, not long after the timeout.
		for range slow {
			select {
			case d := <-closed:
				// The server's clock starts when it accepts, a little
				// before this test's.
				qt.Check(t, qt.IsTrue(d >= timeout/2 && d < 10*timeout), qt.Commentf("slow connection closed after %v", d))
			case <-time.After(20 * timeout):
				t.Fatalf("a slow connection was still open after %v", 20*timeout)
			}
		}
	})
}

// TestHostileHugeHeader checks that a request with a 2 MiB header block
// is answered 431 and its connection closed, and that the server serves
// on.
func TestHostileHugeHeader(t *testing.T) {
	forEachBackend(t, true, nil, func(t *testing.T, srv *hostileServer) {
		conn, err := net.Dial("tcp", srv.Host)
		qt.Assert(t, qt.IsNil(err))
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		go func() {
			// The server may stop reading, and close, before all
			// of it is written.
			bw := bufio.NewWriter(conn)
			fmt.Fprintf(bw, "GET /v2/ HTTP/1.1\r\nHost: %s\r\n", srv.Host)
			line := "X-Big: " + strings.Repeat("a", 1000) + "\r\n"
			for range (2 << 20) / len(line) {
				bw.WriteString(line)
			}
			bw.WriteString("\r\n")
			bw.Flush()
		}()
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		qt.Assert(t, qt.IsNil(err))
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusRequestHeaderFieldsTooLarge))
		// The connection is closed: nothing more comes.
		_, err = br.ReadByte()
		qt.Check(t, qt.IsTrue(err != nil && !errors.Is(err, os.ErrDeadlineExceeded)), qt.Commentf("reading after the 431: %v", err))

		resp, err = http.Get("http://" + srv.Host + "/v2/")
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		qt.Check(t, qt.Equals(resp.StatusCode, http.StatusOK))
	})
}

// TestHostileExpectContinue sends requests that announce their body
// with "Expect: 100-continue" and that the server refuses before reading
// it: the answer must come at once, without a 100 Continue, rather than
// once the read timeout has passed. A request the server accepts gets
// its 100 Continue, then its answer.
func TestHostileExpectContinue(t *testing.T) {
	forEachBackend(t, true, nil, func(t *testing.T, srv *hostileServer) {
		ask := func(method, path string, size int, body bool) *http.Response {
			t.Helper()
			conn, err := net.Dial("tcp", srv.Host)
			qt.Assert(t, qt.IsNil(err))
			defer conn.Close()
			// Well below the read timeout of a minute.
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", method, path, srv.Host, size)
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			qt.Assert(t, qt.IsNil(err), qt.Commentf("%s %s", method, path))
			if resp.StatusCode == http.StatusContinue && body {
				_, err := conn.Write(make([]byte, size))
				qt.Assert(t, qt.IsNil(err))
				resp, err = http.ReadResponse(br, nil)
				qt.Assert(t, qt.IsNil(err), qt.Commentf("%s %s after 100 Continue", method, path))
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp
		}
		refused := []struct {
			method, path string
			size         int
			status       int
		}{
			{"POST", "/v2/repo/blobs/uploads/?digest=sha256:bad", 1 << 20, http.StatusBadRequest},
			{"POST", "/v2/Bad/blobs/uploads/", 1 << 20, http.StatusBadRequest},
			{"PATCH", "/v2/repo/blobs/uploads/unknown", 1 << 20, http.StatusNotFound},
			{"PUT", "/v2/repo/manifests/v1", 5 << 20, http.StatusRequestEntityTooLarge},
		}
		for _, r := range refused {
			resp := ask(r.method, r.path, r.size, false)
			want := r.status
			if srv.proxy {
				// A proxy refuses every write.
				want = resp.StatusCode
				qt.Check(t, qt.IsTrue(want >= 400), qt.Commentf("%s %s: %s", r.method, r.path, resp.Status))
			}
			qt.Check(t, qt.Equals(resp.StatusCode, want), qt.Commentf("%s %s", r.method, r.path))
		}
		if !srv.proxy {
			empty := make([]byte, 1<<20)
			resp := ask("POST", "/v2/repo/blobs/uploads/?digest="+string(digest.FromBytes(empty)), len(empty), true)
			qt.Check(t, qt.Equals(resp.StatusCode, http.StatusCreated))
		}
	})
}

// processFiles returns the number of files the process pid has open.
func processFiles(t *testing.T, pid int) int {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	qt.Assert(t, qt.IsNil(err))
	return len(entries)
}

// processRSS returns the resident memory of the process pid, in bytes.
func processRSS(t *testing.T, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	qt.Assert(t, qt.IsNil(err))
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			_, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb)
			qt.Assert(t, qt.IsNil(err))
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// uploadCounts counts what a server answered to uploads.
type uploadCounts struct {
	started  int // POST 202
	refused  int // POST 429, with Retry-After
	accepted int // PATCH 202
	full     int // PATCH 429, with Retry-After
}

// abandonUploads starts n chunked uploads in repo on host, sends size
// bytes to each that was started, and leaves them, using a few
// connections at once. It fails the test for any answer but 202 and
// 429 with Retry-After.
// abandonWorkers is how many uploads abandonUploads sends at once.
const abandonWorkers = 8

func abandonUploads(t *testing.T, client *http.Client, host, repo string, n, size int) uploadCounts {
	chunk := bytes.Repeat([]byte{'x'}, size)
	var mu sync.Mutex
	var counts uploadCounts
	// do sends req and returns its status, when it is 202 or 429.
	do := func(req *http.Request) int {
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusAccepted:
		case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
		default:
			t.Errorf("%s %s: %s, Retry-After %q", req.Method, req.URL, resp.Status, resp.Header.Get("Retry-After"))
			return 0
		}
		if resp.StatusCode == http.StatusAccepted && req.Method == "POST" {
			loc, err := resp.Location()
			if err != nil {
				t.Error(err)
				return 0
			}
			req.URL = loc
		}
		return resp.StatusCode
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range abandonWorkers {
		wg.Go(func() {
			for range next {
				post, _ := http.NewRequest("POST", "http://"+host+"/v2/"+repo+"/blobs/uploads/", nil)
				status := do(post)
				mu.Lock()
				counts.started += b2i(status == http.StatusAccepted)
				counts.refused += b2i(status == http.StatusTooManyRequests)
				mu.Unlock()
				if status != http.StatusAccepted {
					continue
				}
				patch, _ := http.NewRequest("PATCH", post.URL.String(), bytes.NewReader(chunk))
				patch.Header.Set("Content-Type", "application/octet-stream")
				status = do(patch)
				mu.Lock()
				counts.accepted += b2i(status == http.StatusAccepted)
				counts.full += b2i(status == http.StatusTooManyRequests)
				mu.Unlock()
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return counts
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestHostileAbandonedUploads checks that thousands of chunked uploads
// started, sent data and left are bounded by --max-uploads and, in
// memory, --mem-max-upload-bytes (the others answered 429 with
// Retry-After), and cost the server no open files and no more memory
// than those limits allow.
func TestHostileAbandonedUploads(t *testing.T) {
	const (
		uploads    = 2000
		maxUploads = 1000
		size       = 32 << 10
		memBytes   = 16 << 20
	)
	// The server collects garbage often, so that its resident memory
	// follows what it holds rather than when it last collected.
	t.Setenv("GOGC", "20")
	args := []string{
		// No upload expires while the test runs.
		"--upload-timeout", "1h",
		"--max-uploads", fmt.Sprint(maxUploads),
		"--mem-max-upload-bytes", fmt.Sprint(memBytes),
	}
	forEachBackend(t, false, args, func(t *testing.T, srv *hostileServer) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		// Warm up: the server's first requests make what it keeps.
		for range 50 {
			resp, err := client.Get("http://" + srv.Host + "/v2/")
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
		}
		client.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		files, base := processFiles(t, srv.PID), processRSS(t, srv.PID)

		counts := abandonUploads(t, client, srv.Host, "abandoned", uploads, size)
		client.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		rss := processRSS(t, srv.PID)
		t.Logf("uploads answered: %+v; RSS %d MiB before, %d MiB after", counts, base>>20, rss>>20)

		want := uploadCounts{started: maxUploads, refused: uploads - maxUploads, accepted: maxUploads}
		if srv.mem {
			// The budget is taken as the bytes arrive, so PATCHes
			// in flight together when it runs out may each hold part
			// of their chunk and all be refused: as many whole
			// chunks fit as the budget holds, less at most one per
			// PATCH in flight.
			fit := memBytes / size
			qt.Check(t, qt.IsTrue(counts.accepted <= fit && counts.accepted > fit-abandonWorkers),
				qt.Commentf("%d uploads' data accepted, %d fit in the budget", counts.accepted, fit))
			want.accepted, want.full = counts.accepted, maxUploads-counts.accepted
		}
		qt.Check(t, qt.Equals(counts, want))
		qt.Check(t, qt.IsTrue(processFiles(t, srv.PID) <= files+2), qt.Commentf("%d open files, %d before", processFiles(t, srv.PID), files))
		// What the uploads hold in memory, and what it takes to hold
		// it, is bounded: the data sent was 64 MiB.
		qt.Check(t, qt.IsTrue(rss < base+2*memBytes), qt.Commentf("RSS %d MiB before, %d MiB after", base>>20, rss>>20))
	})
}

// TestHostileAbandonedUploadsExpire checks that abandoned uploads hold
// their slots (and memory) only until --upload-timeout passes: then new
// uploads take their place.
func TestHostileAbandonedUploadsExpire(t *testing.T) {
	const (
		maxUploads = 100
		size       = 32 << 10
		// Far longer than it takes to start maxUploads uploads, even on a
		// loaded machine: none may expire before all are started.
		timeout = 5 * time.Second
	)
	args := []string{
		"--upload-timeout", timeout.String(),
		"--max-uploads", fmt.Sprint(maxUploads),
		"--mem-max-upload-bytes", fmt.Sprint(maxUploads * size),
	}
	forEachBackend(t, false, args, func(t *testing.T, srv *hostileServer) {
		client := &http.Client{}
		full := uploadCounts{started: maxUploads, accepted: maxUploads}
		qt.Assert(t, qt.Equals(abandonUploads(t, client, srv.Host, "abandoned", maxUploads, size), full))
		// All slots are taken until the uploads expire.
		qt.Check(t, qt.Equals(abandonUploads(t, client, srv.Host, "abandoned", 10, size), uploadCounts{refused: 10}))
		time.Sleep(timeout + timeout/2)
		qt.Check(t, qt.Equals(abandonUploads(t, client, srv.Host, "again", maxUploads, size), full))
	})
}

// TestHostileAbandonedUploadsSweptWhileIdle checks that a server that
// receives no new upload still frees the uploads abandoned for longer
// than --upload-timeout: their directories leave the data directory.
func TestHostileAbandonedUploadsSweptWhileIdle(t *testing.T) {
	const timeout = 2 * time.Second
	dir := t.TempDir()
	host, _ := toolstest.StartOciregProcess(t, "--dir", dir, "--upload-timeout", timeout.String())
	uploads := func() int {
		entries, err := os.ReadDir(filepath.Join(dir, "uploads"))
		qt.Assert(t, qt.IsNil(err))
		return len(entries)
	}
	client := &http.Client{}
	counts := abandonUploads(t, client, host, "abandoned", 5, 1<<10)
	qt.Assert(t, qt.Equals(counts, uploadCounts{started: 5, accepted: 5}))
	qt.Assert(t, qt.Equals(uploads(), 5))
	// Nothing more is asked of the server: its sweep runs on its own,
	// at most half the timeout after the uploads expire.
	deadline := time.Now().Add(timeout + 20*time.Second)
	for uploads() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	qt.Check(t, qt.Equals(uploads(), 0))
}
