package smoketest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// image is an image pushed by pushRandomImage, with the exact bytes of
// every part, to compare with what clients bring back.
type image struct {
	manifest []byte
	digest   digest.Digest
	config   []byte
	layer    []byte // a gzipped tar
}

// blobs returns the config and layer, keyed by digest.
func (img image) blobs() map[digest.Digest][]byte {
	return map[digest.Digest][]byte{
		digest.FromBytes(img.config): img.config,
		digest.FromBytes(img.layer):  img.layer,
	}
}

// index is an index pushed by pushRandomIndex.
type index struct {
	manifest []byte
	digest   digest.Digest
	children []image
}

// randomImage returns a valid single-layer image for platform ("os/arch")
// with random content.
func randomImage(t *testing.T, platform string) image {
	t.Helper()
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	content := randomBytes(t, 1000)
	qt.Assert(t, qt.IsNil(tw.WriteHeader(&tar.Header{Name: "random.bin", Mode: 0o644, Size: int64(len(content))})))
	_, err := tw.Write(content)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(tw.Close()))
	var gzBuf bytes.Buffer
	gw := gzip.NewWriter(&gzBuf)
	_, err = gw.Write(tarBuf.Bytes())
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(gw.Close()))

	osName, arch, _ := strings.Cut(platform, "/")
	config := mustJSON(t, ocispec.Image{
		Platform: ocispec.Platform{OS: osName, Architecture: arch},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromBytes(tarBuf.Bytes())}},
	})
	manifest := mustJSON(t, ocispec.Manifest{
		Versioned: versioned,
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    descriptorOf(ocispec.MediaTypeImageConfig, config),
		Layers:    []ocispec.Descriptor{descriptorOf(ocispec.MediaTypeImageLayerGzip, gzBuf.Bytes())},
	})
	return image{manifest: manifest, digest: digest.FromBytes(manifest), config: config, layer: gzBuf.Bytes()}
}

// pushRandomImage pushes a random image to repo:tag over plain HTTP,
// without any client under test.
func pushRandomImage(t *testing.T, host, repo, tag string) image {
	t.Helper()
	img := randomImage(t, "linux/amd64")
	pushImage(t, host, repo, tag, img)
	return img
}

func pushImage(t *testing.T, host, repo, ref string, img image) {
	t.Helper()
	for _, b := range img.blobs() {
		pushBlob(t, host, repo, b)
	}
	pushManifest(t, host, repo, ref, ocispec.MediaTypeImageManifest, img.manifest)
}

// pushRandomIndex pushes an index of two random images (linux/amd64 and
// linux/arm64) to repo:tag.
func pushRandomIndex(t *testing.T, host, repo, tag string) index {
	t.Helper()
	idx := index{children: []image{randomImage(t, "linux/amd64"), randomImage(t, "linux/arm64")}}
	var descs []ocispec.Descriptor
	for i, img := range idx.children {
		pushImage(t, host, repo, img.digest.String(), img)
		d := descriptorOf(ocispec.MediaTypeImageManifest, img.manifest)
		d.Platform = &ocispec.Platform{OS: "linux", Architecture: []string{"amd64", "arm64"}[i]}
		descs = append(descs, d)
	}
	idx.manifest = mustJSON(t, ocispec.Index{Versioned: versioned, MediaType: ocispec.MediaTypeImageIndex, Manifests: descs})
	idx.digest = digest.FromBytes(idx.manifest)
	pushManifest(t, host, repo, tag, ocispec.MediaTypeImageIndex, idx.manifest)
	return idx
}

var versioned = specs.Versioned{SchemaVersion: 2}

func descriptorOf(mediaType string, data []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	qt.Assert(t, qt.IsNil(err))
	return data
}

func randomBytes(t *testing.T, n int) []byte {
	data := make([]byte, n)
	_, err := rand.Read(data)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// pushBlob pushes data as a blob of repo in a single POST.
func pushBlob(t *testing.T, host, repo string, data []byte) {
	t.Helper()
	url := fmt.Sprintf("http://%s/v2/%s/blobs/uploads/?digest=%s", host, repo, digest.FromBytes(data))
	resp := do(t, http.MethodPost, url, "application/octet-stream", data)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusCreated), qt.Commentf("POST %s: %s", url, resp.body))
}

// pushManifest puts a manifest to repo under ref (a tag or a digest).
func pushManifest(t *testing.T, host, repo, ref, mediaType string, data []byte) {
	t.Helper()
	url := fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, ref)
	resp := do(t, http.MethodPut, url, mediaType, data)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusCreated), qt.Commentf("PUT %s: %s", url, resp.body))
}

// getManifest returns the manifest of repo at ref (a tag or a digest), or
// fails the test.
func getManifest(t *testing.T, host, repo, ref string) []byte {
	t.Helper()
	return get(t, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, ref))
}

// getBlob returns the blob of repo with the digest dg, or fails the test.
func getBlob(t *testing.T, host, repo string, dg digest.Digest) []byte {
	t.Helper()
	return get(t, fmt.Sprintf("http://%s/v2/%s/blobs/%s", host, repo, dg))
}

// manifestStatus returns the status of a GET of the manifest of repo at
// ref.
func manifestStatus(t *testing.T, host, repo, ref string) int {
	t.Helper()
	return do(t, http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, ref), "", nil).StatusCode
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp := do(t, http.MethodGet, url, "", nil)
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK), qt.Commentf("GET %s: %s", url, resp.body))
	return resp.body
}

// assertSameImage checks that repo holds img at ref on host, byte for
// byte: the manifest and every blob.
func assertSameImage(t *testing.T, host, repo, ref string, img image) {
	t.Helper()
	qt.Assert(t, qt.DeepEquals(getManifest(t, host, repo, ref), img.manifest), qt.Commentf("manifest of %s:%s", repo, ref))
	for dg, data := range img.blobs() {
		qt.Assert(t, qt.DeepEquals(getBlob(t, host, repo, dg), data), qt.Commentf("blob %s of %s", dg, repo))
	}
}

// assertSameIndex checks that repo holds idx and all its children at ref
// on host, byte for byte.
func assertSameIndex(t *testing.T, host, repo, ref string, idx index) {
	t.Helper()
	qt.Assert(t, qt.DeepEquals(getManifest(t, host, repo, ref), idx.manifest), qt.Commentf("index of %s:%s", repo, ref))
	for _, img := range idx.children {
		assertSameImage(t, host, repo, img.digest.String(), img)
	}
}

type response struct {
	StatusCode int
	header     http.Header
	body       []byte
}

func do(t *testing.T, method, url, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	qt.Assert(t, qt.IsNil(err))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", strings.Join([]string{ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex}, ", "))
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	qt.Assert(t, qt.IsNil(err))
	return response{StatusCode: resp.StatusCode, header: resp.Header, body: data}
}

// tool runs one program under test, in its own directory and with its
// own home, so that no user configuration leaks in.
type tool struct {
	t    *testing.T
	path string
	dir  string
	env  []string
}

func newTool(t *testing.T, path string) *tool {
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home+"/.config", "DOCKER_CONFIG="+home+"/.docker")
	return &tool{t: t, path: path, dir: t.TempDir(), env: env}
}

// run runs the tool with args, fails the test if it fails, and returns
// its standard output.
func (tl *tool) run(args ...string) []byte {
	tl.t.Helper()
	stdout, stderr, err := tl.exec(nil, args...)
	if err != nil {
		tl.t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s", tl.path, strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout
}

// fail runs the tool with args and fails the test unless the tool fails.
func (tl *tool) fail(args ...string) {
	tl.t.Helper()
	stdout, stderr, err := tl.exec(nil, args...)
	if err == nil {
		tl.t.Fatalf("%s %s succeeded, want failure\nstdout:\n%s\nstderr:\n%s", tl.path, strings.Join(args, " "), stdout, stderr)
	}
}

func (tl *tool) exec(stdin []byte, args ...string) (stdout, stderr []byte, err error) {
	var outBuf, errBuf bytes.Buffer
	cmd := exec.Command(tl.path, args...)
	cmd.Dir = tl.dir
	cmd.Env = tl.env
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	err = cmd.Run()
	return outBuf.Bytes(), errBuf.Bytes(), err
}

// writeFile writes data to name in the tool's directory and returns its
// path.
func (tl *tool) writeFile(name string, data []byte) string {
	tl.t.Helper()
	p := tl.dir + "/" + name
	qt.Assert(tl.t, qt.IsNil(os.WriteFile(p, data, 0o666)))
	return p
}

// readFile reads name from the tool's directory.
func (tl *tool) readFile(name string) []byte {
	tl.t.Helper()
	data, err := os.ReadFile(tl.dir + "/" + name)
	qt.Assert(tl.t, qt.IsNil(err))
	return data
}
