package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// The tests in this file play clients that are careless or hostile
// against a real "ocireg serve" process, with each backend, and check
// that the server answers them and holds bounded resources.

// backends are the flags that choose each backend of the tests here.
var backends = []struct {
	name string
	args []string
}{
	{"fs", nil}, // ./ocireg-data in a fresh directory
	{"mem", []string{"--mem"}},
}

// forEachBackend runs f in a subtest for each backend, against a server
// started with the backend's flags and args.
func forEachBackend(t *testing.T, args []string, f func(t *testing.T, srv *toolstest.OciregServer)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			srv := toolstest.StartOciregServer(t, append(append([]string{}, b.args...), args...)...)
			f(t, srv)
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
	forEachBackend(t, nil, func(t *testing.T, srv *toolstest.OciregServer) {
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
