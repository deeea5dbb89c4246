package ocifs_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

const dockerManifestType = "application/vnd.docker.distribution.manifest.v2+json"

// testBackends are the backends that store manifests, for the tests
// that must hold for both.
var testBackends = []struct {
	name string
	new  func(t *testing.T) ociregistry.Interface
}{
	{"ocifs", func(t *testing.T) ociregistry.Interface {
		r, err := ocifs.New(t.TempDir(), nil)
		qt.Assert(t, qt.IsNil(err))
		return r
	}},
	{"ocimem", func(t *testing.T) ociregistry.Interface { return ocimem.New() }},
}

// TestManifestMediaTypeKept pushes a Docker manifest over HTTP and then
// its bytes again with Content-Types that contradict it: each is 400
// MANIFEST_INVALID, and the manifest is still served, by digest and by
// tag, as a Docker manifest. Content that claims no type of its own
// keeps the type it was first pushed as. Each backend is served as it
// is and behind ocifilter.Immutable, which lets pushes by digest through.
func TestManifestMediaTypeKept(t *testing.T) {
	for _, b := range testBackends {
		for _, immutable := range []bool{false, true} {
			name := b.name
			if immutable {
				name += "/immutable"
			}
			t.Run(name, func(t *testing.T) {
				testManifestMediaTypeKept(t, b.new(t), immutable)
			})
		}
	}
}

func testManifestMediaTypeKept(t *testing.T, r ociregistry.Interface, immutable bool) {
	served := r
	if immutable {
		served = ocifilter.Immutable(r)
	}
	host := ocitest.NewServer(t, served)
	base := "http://" + host + "/v2/a/"
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	pushBlob(t, r, "a", config)
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     dockerManifestType,
		"config":        map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "digest": digest.FromBytes(config), "size": len(config)},
		"layers":        []any{},
	}
	data, _ := json.Marshal(m)
	dig := digest.FromBytes(data)
	status, _ := putManifest(t, base+"manifests/v1", dockerManifestType, data)
	qt.Assert(t, qt.Equals(status, http.StatusCreated))

	for _, ct := range []string{"text/plain", "application/json", "application/vnd.oci.image.manifest.v1+json", "application/vnd.example.thing"} {
		for _, ref := range []string{"v1", "v2", string(dig)} {
			status, body := putManifest(t, base+"manifests/"+ref, ct, data)
			qt.Assert(t, qt.Equals(status, http.StatusBadRequest), qt.Commentf("%s as %s", ref, ct))
			qt.Assert(t, qt.StringContains(body, "MANIFEST_INVALID"))
		}
	}
	for _, ref := range []string{"v1", string(dig)} {
		qt.Assert(t, qt.Equals(getContentType(t, base+"manifests/"+ref), dockerManifestType), qt.Commentf("%s", ref))
	}
	resp, err := http.Get(base + "manifests/v2")
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusNotFound))

	opaque := []byte(`{"whatever":true}`)
	odig := digest.FromBytes(opaque)
	status, _ = putManifest(t, base+"manifests/o1", "application/vnd.example.one", opaque)
	qt.Assert(t, qt.Equals(status, http.StatusCreated))
	status, _ = putManifest(t, base+"manifests/o2", "application/vnd.example.two", opaque)
	qt.Assert(t, qt.Equals(status, http.StatusCreated))
	for _, ref := range []string{"o1", "o2", string(odig)} {
		qt.Assert(t, qt.Equals(getContentType(t, base+"manifests/"+ref), "application/vnd.example.one"), qt.Commentf("%s", ref))
	}
}

// putManifest PUTs a manifest and returns the status and body of the
// answer.
func putManifest(t *testing.T, url, contentType string, data []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(data))
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// getContentType GETs a manifest and returns its Content-Type.
func getContentType(t *testing.T, url string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", strings.Join([]string{dockerManifestType, "application/vnd.oci.image.manifest.v1+json", "*/*"}, ", "))
	resp, err := http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	defer resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	return resp.Header.Get("Content-Type")
}
