package replicas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// checkTagsNeverDangle moves tags among manifests from several clients
// while others delete those manifests, all through host (a balancer, so
// every request may land on another replica), then checks that every
// tag listed resolves to a manifest whose content has the digest the
// registry gives it. A tag moved by a PUT that raced a DELETE of its
// manifest may end either way; what must never happen is a tag naming a
// manifest that is gone.
func checkTagsNeverDangle(t *testing.T, host string) {
	const (
		repo      = "race/app"
		manifests = 6
		tags      = 4
		movers    = 6
		deleters  = 3
		rounds    = 40
	)
	base := "http://" + host + "/v2/" + repo
	config := []byte("{}")
	configDesc := ocispec.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest.FromBytes(config), Size: int64(len(config))}
	mustDo(t, "POST", base+"/blobs/uploads/?digest="+configDesc.Digest.String(), "application/octet-stream", config, http.StatusCreated)
	var bodies [][]byte
	for i := range manifests {
		m := ocispec.Manifest{
			MediaType:   ocispec.MediaTypeImageManifest,
			Config:      configDesc,
			Layers:      []ocispec.Descriptor{},
			Annotations: map[string]string{"n": fmt.Sprint(i)},
		}
		m.SchemaVersion = 2
		data, err := json.Marshal(m)
		qt.Assert(t, qt.IsNil(err))
		bodies = append(bodies, data)
	}

	var wg sync.WaitGroup
	errs := make(chan error, movers+deleters)
	for w := range movers {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for range rounds {
				data := bodies[rnd.IntN(manifests)]
				tag := fmt.Sprintf("t%d", rnd.IntN(tags))
				if code, err := do("PUT", base+"/manifests/"+tag, ocispec.MediaTypeImageManifest, data); err != nil || code != http.StatusCreated {
					errs <- fmt.Errorf("PUT %s: %d %v", tag, code, err)
					return
				}
			}
		})
	}
	for w := range deleters {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 2))
			for range rounds {
				dg := digest.FromBytes(bodies[rnd.IntN(manifests)])
				code, err := do("DELETE", base+"/manifests/"+dg.String(), "", nil)
				if err != nil || (code != http.StatusAccepted && code != http.StatusNotFound) {
					errs <- fmt.Errorf("DELETE %s: %d %v", dg, code, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	resp, err := http.Get(base + "/tags/list")
	qt.Assert(t, qt.IsNil(err))
	var list struct{ Tags []string }
	qt.Assert(t, qt.IsNil(json.NewDecoder(resp.Body).Decode(&list)))
	resp.Body.Close()
	for _, tag := range list.Tags {
		req, _ := http.NewRequest("GET", base+"/manifests/"+tag, nil)
		req.Header.Set("Accept", ocispec.MediaTypeImageManifest)
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		if !qt.Check(t, qt.Equals(resp.StatusCode, http.StatusOK), qt.Commentf("tag %s is listed but GET answers %s", tag, data)) {
			continue
		}
		dg := digest.FromBytes(data)
		qt.Check(t, qt.Equals(resp.Header.Get("Docker-Content-Digest"), dg.String()))
		code, err := do("HEAD", base+"/manifests/"+dg.String(), "", nil)
		qt.Check(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(code, http.StatusOK), qt.Commentf("tag %s names %s, which HEAD does not find", tag, dg))
	}
}

// do sends a request and returns its status, reading and closing the body.
func do(method, url, contentType string, body []byte) (int, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func mustDo(t *testing.T, method, url, contentType string, body []byte, want int) {
	t.Helper()
	code, err := do(method, url, contentType, body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(code, want), qt.Commentf("%s %s", method, url))
}
