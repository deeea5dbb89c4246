package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

var (
	clientsFlag  = flag.Int("soak.clients", 200, "concurrent clients in BenchmarkSoak")
	durationFlag = flag.Duration("soak.duration", 60*time.Second, "how long BenchmarkSoak loads each server")
	sampleFlag   = flag.Duration("soak.sample", 5*time.Second, "how often BenchmarkSoak samples the server's memory and open files")
)

// The seeded content: repos repositories, each holding one image (a
// config and two layers of layerSize bytes) under tags tags.
const (
	repos     = 10
	tags      = 5
	layerSize = 256 << 10
	// pushSize is the size of each blob a client pushes during the run.
	pushSize = 4 << 10
)

const manifestType = ocispec.MediaTypeImageManifest

// target is a server under load.
type target struct {
	name string
	host string
	pid  int
	// push says whether the server takes pushes (a proxy does not).
	push bool
	// idleUpstream is how many more files the server may hold open
	// after a load than before it: a proxy keeps up to two idle
	// connections to its upstream (net/http's default per host).
	idleUpstream int
}

// image is what the seed stored in each repository.
type image struct {
	manifest   []byte
	manifestDg digest.Digest
	config     ocispec.Descriptor
	layers     []ocispec.Descriptor
}

// startTargets starts "ocireg serve" on disk, in memory and as a
// pull-through proxy (on disk) of a third server in memory, seeds the
// registries, and returns the servers under load with what they hold.
func startTargets(tb testing.TB) ([]target, *image) {
	tb.Helper()
	img := newImage()
	var targets []target
	for _, t := range []struct {
		name string
		args []string
	}{
		{"dir", []string{"--dir", tb.TempDir()}},
		{"mem", []string{"--mem"}},
	} {
		host, pid := toolstest.StartOciregProcess(tb, t.args...)
		if err := seed(host, img); err != nil {
			tb.Fatalf("seeding %s: %v", t.name, err)
		}
		targets = append(targets, target{name: t.name, host: host, pid: pid, push: true})
	}
	upstream := toolstest.StartOcireg(tb, "--mem")
	if err := seed(upstream, img); err != nil {
		tb.Fatalf("seeding the upstream: %v", err)
	}
	host, pid := toolstest.StartOciregProcess(tb, "--upstream", "http://"+upstream, "--dir", tb.TempDir())
	targets = append(targets, target{name: "proxy", host: host, pid: pid, idleUpstream: 2})
	return targets, img
}

func newImage() *image {
	rnd := rand.New(rand.NewPCG(1, 2))
	var img image
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	img.config = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(config), Size: int64(len(config))}
	blobs[img.config.Digest] = config
	for range 2 {
		b := make([]byte, layerSize)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		d := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(b), Size: int64(len(b))}
		blobs[d.Digest] = b
		img.layers = append(img.layers, d)
	}
	img.manifest = manifestOf(img.config, img.layers)
	img.manifestDg = digest.FromBytes(img.manifest)
	return &img
}

// blobs holds the seeded blobs' contents by digest; it is written only
// by newImage, before any client runs.
var blobs = map[digest.Digest][]byte{}

func manifestOf(config ocispec.Descriptor, layers []ocispec.Descriptor) []byte {
	m := ocispec.Manifest{MediaType: manifestType, Config: config, Layers: layers}
	m.SchemaVersion = 2
	data, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return data
}

func seed(host string, img *image) error {
	c := &client{http: &http.Client{Timeout: time.Minute}, host: host}
	for r := range repos {
		repo := repoName(r)
		for _, d := range append([]ocispec.Descriptor{img.config}, img.layers...) {
			if err := c.pushBlob(repo, d.Digest, blobs[d.Digest]); err != nil {
				return err
			}
		}
		for t := range tags {
			if err := c.pushManifest(repo, "t"+strconv.Itoa(t), img.manifest); err != nil {
				return err
			}
		}
	}
	return nil
}

func repoName(i int) string { return "soak/r" + strconv.Itoa(i) }

// client sends the requests of the mix to one server.
type client struct {
	http *http.Client
	host string
}

func (c *client) do(method, path string, body []byte, header http.Header, want int) (*http.Response, error) {
	req, err := http.NewRequest(method, "http://"+c.host+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	maps.Copy(req.Header, header)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// drain reads and closes resp's body and checks its length.
func drain(resp *http.Response, want int64) error {
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if want >= 0 && n != want {
		return fmt.Errorf("%s: read %d bytes, want %d", resp.Request.URL.Path, n, want)
	}
	return nil
}

func (c *client) pushBlob(repo string, dg digest.Digest, data []byte) error {
	resp, err := c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+dg.String(), data,
		http.Header{"Content-Type": {"application/octet-stream"}}, http.StatusCreated)
	if err != nil {
		return err
	}
	return drain(resp, -1)
}

func (c *client) pushManifest(repo, tag string, data []byte) error {
	resp, err := c.do("PUT", "/v2/"+repo+"/manifests/"+tag, data,
		http.Header{"Content-Type": {manifestType}}, http.StatusCreated)
	if err != nil {
		return err
	}
	return drain(resp, -1)
}

var acceptManifest = http.Header{"Accept": {manifestType}}

// op is one request of the mix; it returns an error unless the server
// answered it right.
type op func(c *client, w *worker) error

func headManifest(c *client, w *worker) error {
	resp, err := c.do("HEAD", "/v2/"+w.repo()+"/manifests/"+w.tag(), nil, acceptManifest, http.StatusOK)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if got := resp.Header.Get("Docker-Content-Digest"); got != w.img.manifestDg.String() {
		return fmt.Errorf("HEAD manifest: digest %q, want %s", got, w.img.manifestDg)
	}
	return nil
}

func getManifest(c *client, w *worker) error {
	resp, err := c.do("GET", "/v2/"+w.repo()+"/manifests/"+w.tag(), nil, acceptManifest, http.StatusOK)
	if err != nil {
		return err
	}
	return drain(resp, int64(len(w.img.manifest)))
}

func getBlob(c *client, w *worker) error {
	d := w.img.layers[w.rnd.IntN(len(w.img.layers))]
	resp, err := c.do("GET", "/v2/"+w.repo()+"/blobs/"+d.Digest.String(), nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	return drain(resp, d.Size)
}

func listTags(c *client, w *worker) error {
	resp, err := c.do("GET", "/v2/"+w.repo()+"/tags/list?n=100", nil, nil, http.StatusOK)
	if err != nil {
		return err
	}
	return drain(resp, -1)
}

// push pushes a new blob and a manifest that has it as a layer, under a
// tag of its own.
func push(c *client, w *worker) error {
	data := make([]byte, pushSize)
	for i := 0; i < len(data); i += 8 {
		v := w.rnd.Uint64()
		for j := range 8 {
			data[i+j] = byte(v >> (8 * j))
		}
	}
	layer := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: digest.FromBytes(data), Size: pushSize}
	repo := w.repo()
	if err := c.pushBlob(repo, layer.Digest, data); err != nil {
		return err
	}
	w.pushed++
	tag := fmt.Sprintf("p%d-%d", w.id, w.pushed)
	return c.pushManifest(repo, tag, manifestOf(w.img.config, []ocispec.Descriptor{layer}))
}

// worker is one of the concurrent clients.
type worker struct {
	id     int
	rnd    *rand.Rand
	img    *image
	pushed int
	lat    []time.Duration
	errs   int
	first  error
}

func (w *worker) repo() string { return repoName(w.rnd.IntN(repos)) }
func (w *worker) tag() string  { return "t" + strconv.Itoa(w.rnd.IntN(tags)) }

// mix returns the operations of the load and their weights out of 100:
// manifest HEAD and GET by tag, blob GETs, tag listings, and, where the
// server takes them, pushes of new blobs and manifests.
func mix(push bool) []weighted {
	if push {
		return []weighted{{25, headManifest}, {25, getManifest}, {25, getBlob}, {10, listTags}, {15, pushOp}}
	}
	return []weighted{{30, headManifest}, {30, getManifest}, {30, getBlob}, {10, listTags}}
}

type weighted struct {
	weight int
	op     op
}

// pushOp is push as an op; a named value keeps mix's table readable.
var pushOp op = push

// result is what a load run measured.
type result struct {
	requests int
	errors   int
	// pushed is the number of blobs (and manifests) pushed.
	pushed   int
	firstErr []error
	elapsed  time.Duration
	p50, p99 time.Duration
	samples  []sample
}

// sample is the server's resident memory and open files at one time.
type sample struct {
	at    time.Duration
	rss   int64
	files int
}

// load runs n clients against t for d, sampling the server every
// every, and returns what it measured. The baseline sample is taken
// before the load and the last one after the clients have closed their
// connections.
func load(ctx context.Context, t target, img *image, n int, d, every time.Duration) (*result, error) {
	transport := &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute}
	httpClient := &http.Client{Transport: transport, Timeout: time.Minute}
	c := &client{http: httpClient, host: t.host}
	ops := mix(t.push)

	// One request of each kind first, so that the baseline holds what
	// the server keeps open once it has served anything (a proxy's
	// connection to its upstream).
	warm := &worker{id: n, rnd: rand.New(rand.NewPCG(uint64(n), 7)), img: img}
	for _, o := range ops {
		if err := o.op(c, warm); err != nil {
			return nil, fmt.Errorf("warming up: %v", err)
		}
	}
	transport.CloseIdleConnections()

	start := time.Now()
	var res result
	base, err := sampleOf(t.pid, 0)
	if err != nil {
		return nil, err
	}
	res.samples = append(res.samples, base)

	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var sampling sync.WaitGroup
	var sampleErr atomic.Pointer[error]
	sampling.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s, err := sampleOf(t.pid, time.Since(start))
				if err != nil {
					sampleErr.Store(&err)
					return
				}
				res.samples = append(res.samples, s)
			}
		}
	})

	workers := make([]*worker, n)
	var wg sync.WaitGroup
	loadStart := time.Now()
	for i := range workers {
		w := &worker{id: i, rnd: rand.New(rand.NewPCG(uint64(i), 7)), img: img}
		workers[i] = w
		wg.Go(func() {
			for ctx.Err() == nil {
				o := pick(ops, w.rnd.IntN(100))
				t0 := time.Now()
				err := o(c, w)
				w.lat = append(w.lat, time.Since(t0))
				if err != nil && ctx.Err() == nil {
					w.errs++
					if w.first == nil {
						w.first = err
					}
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(loadStart)
	sampling.Wait()
	if p := sampleErr.Load(); p != nil {
		return nil, *p
	}

	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
		res.errors += w.errs
		res.pushed += w.pushed
		if w.first != nil && len(res.firstErr) < 5 {
			res.firstErr = append(res.firstErr, w.first)
		}
	}
	res.requests = len(lat)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.p50 = lat[len(lat)/2]
		res.p99 = lat[len(lat)*99/100]
	}

	// With the clients' connections closed, the server's open files
	// go back to what they were before the load.
	transport.CloseIdleConnections()
	var last sample
	for deadline := time.Now().Add(10 * time.Second); ; {
		last, err = sampleOf(t.pid, time.Since(start))
		if err != nil {
			return nil, err
		}
		if last.files <= base.files+t.idleUpstream || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.samples = append(res.samples, last)
	return &res, nil
}

func pick(ops []weighted, n int) op {
	for _, w := range ops {
		if n < w.weight {
			return w.op
		}
		n -= w.weight
	}
	return ops[len(ops)-1].op
}

// sampleOf reads the resident memory and the number of open files of
// process pid from /proc.
func sampleOf(pid int, at time.Duration) (sample, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return sample{}, err
	}
	s := sample{at: at, rss: -1}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return sample{}, fmt.Errorf("VmRSS %q: %v", v, err)
			}
			s.rss = kb << 10
		}
	}
	if s.rss < 0 {
		return sample{}, errors.New("no VmRSS in /proc status")
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return sample{}, err
	}
	s.files = len(fds)
	return s, nil
}

func (r *result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests in %v (%.0f req/s), %d errors, p50 %v, p99 %v, %d images pushed\n",
		r.requests, r.elapsed.Round(time.Millisecond), float64(r.requests)/r.elapsed.Seconds(), r.errors, r.p50, r.p99, r.pushed)
	for _, err := range r.firstErr {
		fmt.Fprintf(&b, "  error: %v\n", err)
	}
	b.WriteString("  time     RSS MiB  open files\n")
	for _, s := range r.samples {
		fmt.Fprintf(&b, "  %6.1fs %8.1f %11d\n", s.at.Seconds(), float64(s.rss)/(1<<20), s.files)
	}
	return b.String()
}

// BenchmarkSoak loads each server with -soak.clients clients for
// -soak.duration and reports errors, latency, throughput, and the
// server's memory and open files at the start and end (with the full
// series in the log). Run it once per server: -benchtime 1x.
func BenchmarkSoak(b *testing.B) {
	targets, img := startTargets(b)
	for _, t := range targets {
		b.Run("server="+t.name, func(b *testing.B) {
			var res *result
			for range b.N {
				var err error
				res, err = load(b.Context(), t, img, *clientsFlag, *durationFlag, *sampleFlag)
				if err != nil {
					b.Fatal(err)
				}
			}
			// The whole series, printed rather than logged: go test
			// keeps only the first lines of a benchmark's log.
			fmt.Printf("%s: %v", t.name, res)
			first, last := res.samples[0], res.samples[len(res.samples)-1]
			peak := first.rss
			for _, s := range res.samples {
				peak = max(peak, s.rss)
			}
			b.ReportMetric(float64(res.errors), "errors")
			b.ReportMetric(float64(res.requests)/res.elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(res.p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(res.p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(first.rss)/(1<<20), "rss-start-MiB")
			b.ReportMetric(float64(peak)/(1<<20), "rss-peak-MiB")
			b.ReportMetric(float64(last.rss)/(1<<20), "rss-end-MiB")
			b.ReportMetric(float64(res.pushed), "images-pushed")
			b.ReportMetric(float64(first.files), "files-start")
			b.ReportMetric(float64(last.files), "files-end")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// TestSoakBrief runs the mix briefly against each server: every request
// must succeed, and once the clients have gone the server's open files
// are back to where they started.
func TestSoakBrief(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers and loads them")
	}
	targets, img := startTargets(t)
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			res, err := load(t.Context(), tg, img, 16, 3*time.Second, time.Second)
			qt.Assert(t, qt.IsNil(err))
			t.Logf("%v", res)
			qt.Check(t, qt.Equals(res.errors, 0), qt.Commentf("%v", res.firstErr))
			qt.Check(t, qt.IsTrue(res.requests > 100), qt.Commentf("%d requests in %v", res.requests, res.elapsed))
			first, last := res.samples[0], res.samples[len(res.samples)-1]
			qt.Check(t, qt.IsTrue(last.files <= first.files+tg.idleUpstream), qt.Commentf("open files: %d before, %d after", first.files, last.files))
		})
	}
}
