package bench

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// serverNames selects the servers the benchmarks compare.
var serverNames = flag.String("servers", "ocireg-mem,ocireg-fs,ocireg-proxy,distribution,crane",
	"comma-separated `list` of the servers to benchmark: ocireg-mem (ocireg serve --mem), ocireg-fs (ocireg serve --dir),\n"+
		"ocireg-proxy (ocireg serve --upstream, cached in a directory, warmed before it is measured), ocifs (ociserver over ocifs\n"+
		"in a process of the test binary, without ocireg's request log), distribution (CNCF Distribution, filesystem driver),\n"+
		"crane (go-containerregistry's in-memory registry, crane registry serve), and the object-storage pair ocireg-s3\n"+
		"(ocireg serve with a registry of kind s3; ocireg-s3-redirect with redirect: true, blob GETs sent to presigned URLs)\n"+
		"and distribution-s3 (Distribution's s3 driver), all over one versitygw")

// ociregBinEnv, when set in the environment, names the ocireg binary to
// benchmark instead of one built from this tree: a way to measure an
// older version against the same peers in the same run.
const ociregBinEnv = "OCIREG_BENCH_BIN"

// fileServerEnv, when set in the environment, makes the test binary a
// plain http.FileServer of the directory it names instead of running
// tests, so that the pull baseline is a process of its own too.
const fileServerEnv = "OCIREG_BENCH_FILESERVER"

// ocifsServerEnv, when set, makes the test binary serve ociserver over
// ocifs in the directory it names: the server "ocifs" of -servers, a stand-in for
// "ocireg serve --dir".
const ocifsServerEnv = "OCIREG_BENCH_OCIFS"

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 15 * time.Second
)

// server is a server process started for the benchmarks.
type server struct {
	name string
	host string // 127.0.0.1:port
	cmd  *exec.Cmd
	log  string // file with the server's stderr
	done chan struct{}
	err  error // result of Wait, set before done is closed

	// inMemory is set for servers that keep content in memory, whose
	// resident size is compared with what they hold.
	inMemory bool

	// upstream, for a pull-through proxy, is the registry it caches:
	// content is pushed there and pulled once through the proxy
	// before the proxy is measured. Pushes to a proxy are refused.
	upstream *server

	// baseRSS is the resident size just after the server started.
	baseRSS int64

	// stored counts the bytes of blobs and manifests that the setup
	// left in the server.
	stored atomic.Int64
}

// pushable reports whether s takes pushes.
func (s *server) pushable() bool { return s.upstream == nil }

// pushHost returns the host that content meant for s is pushed to.
func (s *server) pushHost() string {
	if s.upstream != nil {
		return s.upstream.host
	}
	return s.host
}

// servers are the processes started once per test process and stopped
// by TestMain.
var servers struct {
	once sync.Once
	err  error
	dir  string
	// registries are those -servers names, in its order.
	registries []*server
	// helpers are processes that serve the registries, such as a
	// proxy's upstream.
	helpers    []*server
	fileServer *server
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(fileServerEnv); dir != "" {
		runFileServer(dir)
		return
	}
	if dir := os.Getenv(ocifsServerEnv); dir != "" {
		runOcifsServer(dir)
		return
	}
	code := m.Run()
	for _, s := range allServers() {
		if err := s.stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping %s: %v\n", s.name, err)
		}
	}
	if servers.dir != "" {
		os.RemoveAll(servers.dir)
	}
	os.Exit(code)
}

func allServers() []*server {
	all := append([]*server(nil), servers.registries...)
	all = append(all, servers.helpers...)
	if gateway.server != nil {
		all = append(all, gateway.server)
	}
	if servers.fileServer != nil {
		all = append(all, servers.fileServer)
	}
	return all
}

// startServers starts every server the first time it is called in this
// process and returns the registries and the file server, whose root is
// fileServerDir(). It skips the test when a peer's binary is missing,
// unless OCIREG_REQUIRE_TOOLS=1.
func startServers(tb testing.TB) (registries []*server, fileServer *server) {
	tb.Helper()
	names := strings.Split(*serverNames, ",")
	tools := map[string]string{}
	for _, name := range names {
		switch name {
		case "distribution", "distribution-s3":
			tools[name] = toolstest.Require(tb, "registry")
		case "crane":
			tools[name] = toolstest.Require(tb, "crane")
		}
		if strings.HasSuffix(name, "-s3") {
			tools["versitygw"] = toolstest.Require(tb, "versitygw")
		}
	}
	servers.once.Do(func() {
		ocireg := os.Getenv(ociregBinEnv)
		if ocireg == "" {
			// The binary is removed when tb ends; the server keeps
			// running from it, as Linux keeps an executable open
			// while it runs.
			ocireg = toolstest.BuildOcireg(tb)
		}
		servers.err = start(names, ocireg, tools)
	})
	if servers.err != nil {
		tb.Fatal(servers.err)
	}
	return servers.registries, servers.fileServer
}

func fileServerDir() string {
	return filepath.Join(servers.dir, "files")
}

func start(names []string, ocireg string, tools map[string]string) error {
	dir, err := os.MkdirTemp("", "ocireg-bench-")
	if err != nil {
		return err
	}
	servers.dir = dir
	if err := os.Mkdir(fileServerDir(), 0o777); err != nil {
		return err
	}
	if bin := tools["versitygw"]; bin != "" {
		if err := startGateway(bin, dir); err != nil {
			return fmt.Errorf("starting versitygw: %w", err)
		}
	}
	// A configuration line, which benchstat keeps with the results.
	fmt.Printf("servers: %s\n", strings.Join(names, ","))
	for _, name := range names {
		s, err := startServer(name, ocireg, tools[name], dir)
		if err != nil {
			return fmt.Errorf("starting %s: %w", name, err)
		}
		if s.baseRSS, _, err = s.memory(); err != nil {
			return err
		}
		servers.registries = append(servers.registries, s)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), fileServerEnv+"="+fileServerDir())
	fs, err := startPrinting("fileserver", cmd, dir)
	if err != nil {
		return fmt.Errorf("starting the file server: %w", err)
	}
	servers.fileServer = fs
	return nil
}

func startServer(name, ocireg, tool, dir string) (*server, error) {
	serve := []string{"serve", "--addr", "127.0.0.1:0"}
	switch name {
	case "ocireg-mem":
		s, err := startPrinting(name, exec.Command(ocireg, append(serve, "--mem")...), dir)
		if s != nil {
			s.inMemory = true
		}
		return s, err
	case "ocireg-fs":
		return startPrinting(name, exec.Command(ocireg, append(serve, "--dir", filepath.Join(dir, name))...), dir)
	case "ocireg-proxy":
		up, err := startPrinting("proxy-upstream", exec.Command(ocireg, append(serve, "--mem")...), dir)
		if err != nil {
			return nil, err
		}
		servers.helpers = append(servers.helpers, up)
		s, err := startPrinting(name, exec.Command(ocireg, append(serve, "--dir", filepath.Join(dir, name), "--upstream", "http://"+up.host)...), dir)
		if s != nil {
			s.upstream = up
		}
		return s, err
	case "ocifs":
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(self)
		cmd.Env = append(os.Environ(), ocifsServerEnv+"="+filepath.Join(dir, name))
		return startPrinting(name, cmd, dir)
	case "distribution":
		return startDistribution(tool, dir, toolstest.DistributionConfig)
	case "ocireg-s3", "ocireg-s3-redirect":
		config, err := ociregS3Config(dir, name == "ocireg-s3-redirect")
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(ocireg, append(serve, "--config", config)...)
		cmd.Env = s3Env(dir)
		return startPrinting(name, cmd, dir)
	case "distribution-s3":
		s, err := startDistribution(tool, dir, func(host, _ string) string { return distributionS3Config(host) })
		if s != nil {
			s.name = name
		}
		return s, err
	case "crane":
		return startCrane(tool, dir)
	}
	return nil, fmt.Errorf("unknown server %q in -servers", name)
}

// startPrinting starts cmd, which prints the URL it serves on
// (http://HOST:PORT) as the first line of its standard output.
func startPrinting(name string, cmd *exec.Cmd, dir string) (*server, error) {
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s, err := startProcess(name, cmd, dir)
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		l, _ := r.ReadString('\n')
		line <- strings.TrimSpace(l)
		// Keep draining so the server never blocks writing.
		r.WriteTo(discard{})
	}()
	select {
	case l := <-line:
		host, ok := strings.CutPrefix(l, "http://")
		if !ok {
			s.stop()
			return nil, fmt.Errorf("printed %q, want http://HOST:PORT\n%s", l, s.logTail())
		}
		s.host = host
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("exited before listening: %v\n%s", s.err, s.logTail())
	case <-time.After(startTimeout):
		s.stop()
		return nil, fmt.Errorf("did not print its address within %v\n%s", startTimeout, s.logTail())
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startDistribution starts Distribution with the configuration that
// config makes for its address and data directory.
func startDistribution(bin, dir string, config func(host, data string) string) (*server, error) {
	var lastErr error
	// Distribution cannot listen on port 0 and tell the port, so pick a
	// free one; another process can take it in between, hence retries.
	for i := range 3 {
		host, err := freeHost()
		if err != nil {
			return nil, err
		}
		file := filepath.Join(dir, fmt.Sprintf("distribution-%d.yml", i))
		data := filepath.Join(dir, fmt.Sprintf("distribution-data-%d", i))
		if err := os.WriteFile(file, []byte(config(host, data)), 0o666); err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "serve", file)
		// Distribution v3 exports traces to localhost by default.
		cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
		s, err := startProcess("distribution", cmd, dir)
		if err != nil {
			return nil, err
		}
		s.host = host
		if lastErr = waitReady(s); lastErr == nil {
			return s, nil
		}
		s.stop()
		lastErr = fmt.Errorf("%w\n%s", lastErr, s.logTail())
	}
	return nil, lastErr
}

// startCrane starts go-containerregistry's in-memory registry on a free
// port, retrying as startDistribution does.
func startCrane(bin, dir string) (*server, error) {
	var lastErr error
	for range 3 {
		host, err := freeHost()
		if err != nil {
			return nil, err
		}
		s, err := startProcess("crane", exec.Command(bin, "registry", "serve", "--address", host), dir)
		if err != nil {
			return nil, err
		}
		s.host = host
		s.inMemory = true
		if lastErr = waitReady(s); lastErr == nil {
			return s, nil
		}
		s.stop()
		lastErr = fmt.Errorf("%w\n%s", lastErr, s.logTail())
	}
	return nil, lastErr
}

func freeHost() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls /v2/ until it answers 200, s exits, or startTimeout
// passes.
func waitReady(s *server) error {
	deadline := time.Now().Add(startTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		resp, err := client.Get("http://" + s.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /v2/: %s", resp.Status)
		}
		select {
		case <-s.done:
			return fmt.Errorf("exited before answering: %v", s.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %v", startTimeout, err)
		}
	}
}

// startProcess starts cmd with its standard error going to a file in
// dir, which ocireg fills with one log line per request: a file, unlike a
// growing buffer, adds nothing to the memory of the benchmark process.
func startProcess(name string, cmd *exec.Cmd, dir string) (*server, error) {
	log, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	defer log.Close()
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: name, cmd: cmd, log: log.Name(), done: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

// stop sends SIGTERM and waits for the process to exit, killing it
// after stopTimeout. It is idempotent.
func (s *server) stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
		s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("killed after not exiting within %v of SIGTERM", stopTimeout)
	}
}

// logTail returns the end of the server's standard error.
func (s *server) logTail() string {
	data, _ := os.ReadFile(s.log)
	const max = 4096
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// memory returns the server's resident set size (VmRSS) and its peak
// (VmHWM) since the last resetPeak, in bytes.
func (s *server) memory() (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(data)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s of %s: %v", key, s.name, err)
		}
		if key == "VmRSS" {
			rss = kib << 10
		} else {
			peak = kib << 10
		}
	}
	if rss == 0 || peak == 0 {
		return 0, 0, errors.New("no VmRSS or VmHWM in /proc/PID/status")
	}
	return rss, peak, nil
}

// cpuTime returns the processor time the server has used so far, user
// and system, from /proc/PID/stat. Unlike wall-clock rates it hardly
// depends on what else the machine runs.
func (s *server) cpuTime() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces; the fields
	// after it are utime and stime at positions 12 and 13.
	_, rest, ok := strings.Cut(string(data), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%d/stat", s.cmd.Process.Pid)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing /proc/%d/stat: %v", s.cmd.Process.Pid, err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// resetPeak makes the kernel restart the server's VmHWM from its current
// resident set size.
func (s *server) resetPeak() error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
}

// runFileServer is the whole program when the test binary runs as the
// pull baseline: net/http's FileServer of dir.
func runFileServer(dir string) {
	files := http.FileServer(http.Dir(dir))
	floor := floorManifest(dir)
	serveUntilSignal(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v2/") {
			floor(w, req)
			return
		}
		files.ServeHTTP(w, req)
	}))
}

// floorManifest returns the least a net/http handler can do to answer a
// manifest request: the bytes of floorManifestFile in dir, read once,
// with the headers a registry must send, whatever the path. It measures
// what net/http and the connection cost a registry per request, which
// no registry built on net/http can go below.
func floorManifest(dir string) http.HandlerFunc {
	var (
		once             sync.Once
		data             []byte
		length, dgst, mt []string
	)
	return func(w http.ResponseWriter, req *http.Request) {
		once.Do(func() {
			var err error
			if data, err = os.ReadFile(filepath.Join(dir, floorManifestFile)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			length = []string{strconv.Itoa(len(data))}
			dgst = []string{digest.FromBytes(data).String()}
			mt = []string{ocispec.MediaTypeImageManifest}
		})
		h := w.Header()
		h["Content-Type"], h["Content-Length"], h["Docker-Content-Digest"] = mt, length, dgst
		if req.Method == http.MethodGet {
			w.Write(data)
		}
	}
}

// runOcifsServer is the whole program when the test binary runs as the
// server "ocifs" of -servers: ociserver over ocifs in dir, started as
// runFileServer is.
func runOcifsServer(dir string) {
	reg, err := ocifs.New(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serveUntilSignal(ociserver.New(reg, nil))
}

// serveUntilSignal serves h on a free port of 127.0.0.1, printed as a URL
// on the first line of standard output, until SIGTERM or SIGINT.
func serveUntilSignal(h http.Handler) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("http://%s\n", ln.Addr())
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	srv.Close()
}
