package toolstest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
)

// recordingTB records how Require ended a test instead of ending the real
// one.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// callRequire runs Require with a recordingTB in its own goroutine, as
// Skipf and Fatalf end the goroutine that calls them.
func callRequire(t *testing.T, name string) (path string, r *recordingTB) {
	r = &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Require(r, name)
	}()
	<-done
	return path, r
}

func TestRequire(t *testing.T) {
	toolsDir := t.TempDir()
	pathDir := t.TempDir()
	writeExecutable(t, filepath.Join(toolsDir, "both"))
	writeExecutable(t, filepath.Join(pathDir, "both"))
	writeExecutable(t, filepath.Join(pathDir, "onpath"))
	// Not executable, so not a tool.
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(toolsDir, "onpath"), nil, 0o644)))
	t.Setenv("OCIREG_TOOLS_BIN", toolsDir)
	t.Setenv("PATH", pathDir)

	tests := []struct {
		name, tool, require string
		wantPath            string
		wantSkip, wantFatal bool
	}{
		{name: "ToolsBinFirst", tool: "both", wantPath: filepath.Join(toolsDir, "both")},
		{name: "ThenPath", tool: "onpath", wantPath: filepath.Join(pathDir, "onpath")},
		{name: "MissingSkips", tool: "missing", wantSkip: true},
		{name: "MissingFailsWhenRequired", tool: "missing", require: "1", wantFatal: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			t.Setenv("OCIREG_REQUIRE_TOOLS", test.require)
			path, r := callRequire(t, test.tool)
			qt.Check(t, qt.Equals(path, test.wantPath))
			qt.Check(t, qt.Equals(r.skipped != "", test.wantSkip), qt.Commentf("skipped: %q", r.skipped))
			qt.Check(t, qt.Equals(r.fatal != "", test.wantFatal), qt.Commentf("fatal: %q", r.fatal))
		})
	}
}

func writeExecutable(t *testing.T, name string) {
	qt.Assert(t, qt.IsNil(os.WriteFile(name, []byte("#!/bin/sh\n"), 0o755)))
}

func TestStartOcireg(t *testing.T) {
	host := StartOcireg(t)
	resp, err := http.Get("http://" + host + "/v2/")
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
}

func TestStartDistribution(t *testing.T) {
	host := StartDistribution(t)
	resp, err := http.Get("http://" + host + "/v2/")
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.Equals(resp.Header.Get("Docker-Distribution-Api-Version"), "registry/2.0"))
}

func TestFirstLineWriter(t *testing.T) {
	var rest Buffer
	w := &firstLineWriter{line: make(chan string, 1), rest: &rest}
	for _, s := range []string{"http://127.0", ".0.1:5000\nmore\n", "and more\n"} {
		_, err := w.Write([]byte(s))
		qt.Assert(t, qt.IsNil(err))
	}
	qt.Assert(t, qt.Equals(<-w.line, "http://127.0.0.1:5000"))
	qt.Assert(t, qt.Equals(rest.String(), "http://127.0.0.1:5000\nmore\nand more\n"))
}

func TestBalancerRoundRobin(t *testing.T) {
	var hosts []string
	for _, name := range []string{"a", "b", "c"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The replica sees the balancer's host.
			fmt.Fprintf(w, "%s %s %s", name, r.Host, r.URL.Path)
		}))
		t.Cleanup(srv.Close)
		hosts = append(hosts, strings.TrimPrefix(srv.URL, "http://"))
	}
	b := StartBalancer(t, hosts...)
	var got []string
	for range 4 {
		resp, err := http.Get("http://" + b.Host + "/v2/x")
		qt.Assert(t, qt.IsNil(err))
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		got = append(got, string(body))
	}
	want := []string{"a", "b", "c", "a"}
	for i := range want {
		want[i] += " " + b.Host + " /v2/x"
	}
	qt.Assert(t, qt.DeepEquals(got, want))
	qt.Assert(t, qt.DeepEquals(b.Counts(), []int{2, 1, 1}))
}
