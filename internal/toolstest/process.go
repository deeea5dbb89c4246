package toolstest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How long a started server gets to come up, and to exit after SIGTERM.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// built is the ocireg binary shared by the tests using it at the moment.
var built struct {
	mu    sync.Mutex
	dir   string
	users int
}

// BuildOcireg builds the ocireg command of this module and returns the
// path of the binary, which stays until the test ends. Tests running in
// parallel share one build, which is removed when the last of them ends.
// It fails the test when the build fails.
func BuildOcireg(t testing.TB) string {
	t.Helper()
	built.mu.Lock()
	defer built.mu.Unlock()
	if built.users == 0 {
		dir, err := os.MkdirTemp("", "toolstest-ocireg-")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("go", "build", "-o", dir, ".")
		cmd.Dir = ociregDir()
		if out, err := cmd.CombinedOutput(); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("building ocireg: %v\n%s", err, out)
		}
		if err := openSources(ociregDir()); err != nil {
			os.RemoveAll(dir)
			t.Fatalf("listing the sources of ocireg: %v", err)
		}
		built.dir = dir
	}
	built.users++
	t.Cleanup(func() {
		built.mu.Lock()
		defer built.mu.Unlock()
		if built.users--; built.users == 0 {
			os.RemoveAll(built.dir)
		}
	})
	return filepath.Join(built.dir, "ocireg")
}

// ociregDir returns the directory of the ocireg command. It is a
// module of its own (nested in this one), so it is built from inside
// its directory rather than by import path from the test's module.
func ociregDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "cmd", "ocireg")
}

// openSources opens (and closes) the go.mod and every Go source file
// that the package pkg is built from. The go command caches a test
// result with the files the test opened: without this, a change to
// ocireg would not rerun a cached test that only runs its binary.
func openSources(dir string) error {
	const format = `{{if not .Standard}}{{with .Module}}{{.GoMod}}{{"\n"}}{{end}}` +
		`{{range .GoFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}{{"\n"}}{{end}}{{end}}`
	cmd := exec.Command("go", "list", "-deps", "-f", format, ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return err
	}
	for name := range strings.Lines(string(out)) {
		f, err := os.Open(strings.TrimSpace(name))
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}

// StartOcireg builds the ocireg binary, starts "ocireg serve" on a free
// port of 127.0.0.1 with the extra flags args, and returns the host
// ("127.0.0.1:port") it serves on. The server is stopped with SIGTERM
// when the test ends, and the test fails unless it then exits with
// status 0. Its log is added to the test log when the test fails.
func StartOcireg(t testing.TB, args ...string) (host string) {
	t.Helper()
	host, _ = StartOciregProcess(t, args...)
	return host
}

// StartOciregProcess is StartOcireg that also returns the process ID of
// the server, for tests that watch its memory or open files.
func StartOciregProcess(t testing.TB, args ...string) (host string, pid int) {
	t.Helper()
	bin := BuildOcireg(t)
	cmd := exec.Command(bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	// serve keeps its registry in ./ocireg-data by default: give it a
	// directory of its own, not the test package's.
	cmd.Dir = t.TempDir()
	first := &firstLineWriter{line: make(chan string, 1)}
	cmd.Stdout = first
	p := startProcess(t, "ocireg", cmd)
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("ocireg serve did not exit cleanly after SIGTERM: %v\n%s", err, p.output())
		}
	})
	select {
	case line := <-first.line:
		host, ok := strings.CutPrefix(line, "http://")
		if !ok {
			t.Fatalf("ocireg serve printed %q, want http://HOST:PORT", line)
		}
		return host, cmd.Process.Pid
	case <-p.done:
		t.Fatalf("ocireg serve exited before listening: %v\n%s", p.err, p.output())
	case <-time.After(startTimeout):
		t.Fatalf("ocireg serve did not print its address within %v\n%s", startTimeout, p.output())
	}
	panic("unreachable")
}

// StartDistribution starts CNCF Distribution's registry (the "registry"
// tool, see Require) with a fresh filesystem store, deletes enabled, on a
// free port of 127.0.0.1, waits until it answers /v2/ and returns its
// host ("127.0.0.1:port"). The registry is stopped when the test ends.
func StartDistribution(t testing.TB) (host string) {
	t.Helper()
	bin := Require(t, "registry")
	dir := t.TempDir()
	// Distribution cannot listen on port 0 and report the port, so pick
	// a free one; another process can take it in between, hence retries.
	var lastErr error
	for range 3 {
		host, err := freeHost()
		if err != nil {
			t.Fatal(err)
		}
		storeDir, err := os.MkdirTemp(dir, "store")
		if err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(storeDir, "config.yml")
		if err := os.WriteFile(config, []byte(DistributionConfig(host, filepath.Join(storeDir, "data"))), 0o666); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", config)
		// Distribution v3 exports traces to localhost by default.
		cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
		p := startProcess(t, "registry", cmd)
		if lastErr = waitHTTP(p, "http://"+host+"/v2/"); lastErr == nil {
			t.Cleanup(func() { p.stop() })
			return host
		}
		p.stop()
		lastErr = fmt.Errorf("%w\n%s", lastErr, p.output())
	}
	t.Fatalf("starting Distribution: %v", lastErr)
	return ""
}

// DistributionConfig returns a configuration for CNCF Distribution's
// registry that listens on host and stores in dataDir with the filesystem
// driver, with deletes enabled, logging only errors and no access log (its
// cheapest setting, so that benchmarks do not compare against logging).
func DistributionConfig(host, dataDir string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: toolstest
`, dataDir, host)
}

// freeHost returns a 127.0.0.1 host with a port that was free a moment ago.
func freeHost() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitHTTP polls url until it answers 200, p exits, or startTimeout passes.
func waitHTTP(p *process, url string) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before answering: %v", p.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", startTimeout, err)
		}
	}
}

// process is a started program. Whatever it writes that the command does
// not send elsewhere is kept, to show in the test log.
type process struct {
	name string
	cmd  *exec.Cmd
	out  Buffer
	done chan struct{} // closed when the program has exited
	err  error         // the result of Wait, set before done is closed
}

// startProcess starts cmd and, if the test fails, logs its output when
// the test ends.
func startProcess(t testing.TB, name string, cmd *exec.Cmd) *process {
	t.Helper()
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = &p.out
	} else if w, ok := cmd.Stdout.(*firstLineWriter); ok {
		w.rest = &p.out
	}
	cmd.Stderr = &p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		// Stopping first makes the output complete; stop is idempotent.
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.output())
		}
	})
	return p
}

// stop sends SIGTERM, waits for the program to exit (killing it after
// stopTimeout) and returns the result of Wait.
func (p *process) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s killed after not exiting within %v of SIGTERM", p.name, stopTimeout)
	}
	return p.err
}

func (p *process) output() string {
	return p.out.String()
}

// firstLineWriter sends the first line written to it on line, and passes
// everything on to rest.
type firstLineWriter struct {
	line chan string
	rest *Buffer

	mu   sync.Mutex
	buf  []byte
	sent bool
}

func (w *firstLineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.sent {
		w.buf = append(w.buf, p...)
		if i := bytes.IndexByte(w.buf, '\n'); i >= 0 {
			w.line <- strings.TrimSpace(string(w.buf[:i]))
			w.sent = true
		}
	}
	if w.rest != nil {
		w.rest.Write(p)
	}
	return len(p), nil
}

// Buffer is a bytes.Buffer safe for concurrent use, for output that
// one goroutine writes (a program's stdout and stderr, a logger) while a
// test reads it. The zero value is an empty buffer.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer. It never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
