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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-quicktest/qt"

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
	Host string // 127.0.0.1:port
	PID  int
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
			f(t, &hostileServer{Host: host, PID: pid})
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

// abandonUploads starts n chunked uploads in repo on host, sends size
// bytes to each, and leaves them, using a few connections at once. It
// returns how many of them the server accepted the data of.
func abandonUploads(t *testing.T, client *http.Client, host, repo string, n, size int) int {
	chunk := bytes.Repeat([]byte{'x'}, size)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for range next {
				resp, err := client.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					continue
				}
				loc, err := resp.Location()
				if err != nil {
					t.Error(err)
					continue
				}
				req, _ := http.NewRequest("PATCH", loc.String(), bytes.NewReader(chunk))
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err = client.Do(req)
				if err != nil {
					t.Error(err)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Add(1)
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return int(accepted.Load())
}

// TestHostileAbandonedUploads checks that thousands of chunked uploads
// started, sent data and left cost the server no open files, and memory
// only until --upload-timeout passes: a second round of them, after the
// timeout, leaves the server's resident memory where the first left it.
func TestHostileAbandonedUploads(t *testing.T) {
	const (
		uploads = 2000
		size    = 32 << 10
		timeout = 2 * time.Second
	)
	// The server collects garbage often, so that its resident memory
	// follows what it holds rather than when it last collected.
	t.Setenv("GOGC", "20")
	forEachBackend(t, false, []string{"--upload-timeout", timeout.String()}, func(t *testing.T, srv *hostileServer) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
		// Warm up: the server's first requests make what it keeps.
		abandonUploads(t, client, srv.Host, "warm", 100, size)
		client.CloseIdleConnections()
		time.Sleep(100 * time.Millisecond)
		files := processFiles(t, srv.PID)
		var rss []int64
		for round := range 2 {
			if round > 0 {
				// Let the last round's uploads expire.
				time.Sleep(timeout + timeout/2)
			}
			n := abandonUploads(t, client, srv.Host, "abandoned", uploads, size)
			qt.Check(t, qt.Equals(n, uploads))
			client.CloseIdleConnections()
			time.Sleep(100 * time.Millisecond)
			qt.Check(t, qt.IsTrue(processFiles(t, srv.PID) <= files+2), qt.Commentf("round %d: %d open files, %d before", round, processFiles(t, srv.PID), files))
			rss = append(rss, processRSS(t, srv.PID))
		}
		t.Logf("RSS after each round: %d MiB", func() []int64 {
			var m []int64
			for _, r := range rss {
				m = append(m, r>>20)
			}
			return m
		}())
		// Each round sends uploads*size bytes (64 MiB): if the first
		// round's uploads were still held, the second would add as
		// much.
		qt.Check(t, qt.IsTrue(rss[1] < rss[0]+int64(uploads*size)/2), qt.Commentf("RSS %d MiB after the first round, %d MiB after the second", rss[0]>>20, rss[1]>>20))
	})
}
