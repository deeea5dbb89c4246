package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// The listing benchmarks measure a page of tags of a repository with
// scaleTags tags, and a page of the catalog of a registry with
// scaleRepos more repositories, each from a random starting point, on
// ocireg's own stores only: filling a peer with as much takes minutes.
const (
	scaleTags  = 100000
	scaleRepos = 10000
	scalePage  = 100
	scaleRepo  = "bench/scale"
)

// emptyIndex is what every tag and repository of the listing
// benchmarks holds: an index of no manifests needs no blobs.
var emptyIndex = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)

var emptyIndexDigest = digest.FromBytes(emptyIndex).String()

func BenchmarkTagsList(b *testing.B) {
	benchmarkList(b, func(s *server, rnd *rand.Rand) string {
		last := fmt.Sprintf("t%06d", rnd.IntN(scaleTags))
		return "http://" + s.host + "/v2/" + scaleRepo + "/tags/list?n=100&last=" + last
	})
}

func BenchmarkCatalog(b *testing.B) {
	benchmarkList(b, func(s *server, rnd *rand.Rand) string {
		last := fmt.Sprintf("bench/scale/r%05d", rnd.IntN(scaleRepos))
		return "http://" + s.host + "/v2/_catalog?n=100&last=" + url.QueryEscape(last)
	})
}

// benchmarkList GETs the pages that page names, one at a time, and
// reports the median time a page took as ms/page.
func benchmarkList(b *testing.B, page func(*server, *rand.Rand) string) {
	registries, _ := startServers(b)
	for _, s := range registries {
		if !scalable(s) {
			continue
		}
		b.Run("server="+s.name, func(b *testing.B) {
			setupScale(b, s)
			rnd := rand.New(rand.NewPCG(1, 2))
			startMemory(b, s)
			times := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				u := page(s, rnd)
				start := time.Now()
				if err := getPage(u); err != nil {
					b.Fatal(err)
				}
				times = append(times, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2])/float64(time.Millisecond), "ms/page")
			reportMemory(b, s)
		})
	}
}

// getPage GETs a page of a listing and checks that it holds scalePage
// names or is the last.
func getPage(u string) error {
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	var page struct {
		Tags         []string `json:"tags"`
		Repositories []string `json:"repositories"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return fmt.Errorf("GET %s: %v", u, err)
	}
	if n := len(page.Tags) + len(page.Repositories); n != scalePage && resp.Header.Get("Link") != "" {
		return fmt.Errorf("GET %s: %d names and a next page", u, n)
	}
	return nil
}

// scalable reports whether the listing benchmarks run on s.
func scalable(s *server) bool {
	return s.name == "ocireg-mem" || s.name == "ocireg-fs" || s.name == "ocifs"
}

var scaleOnce sync.Map // server name → *scaleSetup

type scaleSetup struct {
	once sync.Once
	err  error
}

// setupScale fills s with the tags and repositories of the listing
// benchmarks, once per process. A store on disk gets them as files,
// copies of one pushed tag, since pushing each would take minutes of
// fsyncs; the memory store gets them pushed, 32 requests at a time.
func setupScale(b *testing.B, s *server) {
	v, _ := scaleOnce.LoadOrStore(s.name, &scaleSetup{})
	setup := v.(*scaleSetup)
	setup.once.Do(func() {
		if err := putManifest(s.host, scaleRepo, "t000000", emptyIndex); err != nil {
			setup.err = err
			return
		}
		if s.inMemory {
			setup.err = pushScale(s)
		} else {
			setup.err = copyScale(filepath.Join(servers.dir, s.name))
		}
	})
	if setup.err != nil {
		b.Fatal(setup.err)
	}
}

// pushScale pushes the tags 100 at a time, with the tag parameters of
// a manifest PUT, and the repositories one by one.
func pushScale(s *server) error {
	var next atomic.Int64
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	const tagPuts = scaleTags / 100
	const total = tagPuts + scaleRepos
	for range concurrency {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < total; i = next.Add(1) - 1 {
				var err error
				if i < tagPuts {
					q := url.Values{}
					for j := range 100 {
						q.Add("tag", fmt.Sprintf("t%06d", i*100+int64(j)))
					}
					err = putManifest(s.host, scaleRepo, emptyIndexDigest+"?"+q.Encode(), emptyIndex)
				} else {
					err = putManifest(s.host, fmt.Sprintf("bench/scale/r%05d", i-tagPuts), "v1", emptyIndex)
				}
				if err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

// copyScale makes the tags and repositories in the ocifs directory dir
// by copying the tag file of t000000 (see ocifs's layout), and dates
// the directories back, as if they had been there a while.
func copyScale(dir string) error {
	repos := filepath.Join(dir, "repos")
	tags := filepath.Join(repos, filepath.FromSlash(scaleRepo), "_tags")
	tag, err := os.ReadFile(filepath.Join(tags, "t000000"))
	if err != nil {
		return err
	}
	for i := 1; i < scaleTags; i++ {
		if err := os.WriteFile(filepath.Join(tags, fmt.Sprintf("t%06d", i)), tag, 0o666); err != nil {
			return err
		}
	}
	for i := range scaleRepos {
		rtags := filepath.Join(repos, "bench", "scale", fmt.Sprintf("r%05d", i), "_tags")
		if err := os.MkdirAll(rtags, 0o777); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(rtags, "v1"), tag, 0o666); err != nil {
			return err
		}
	}
	old := time.Now().Add(-time.Hour)
	return filepath.WalkDir(repos, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chtimes(path, old, old)
	})
}

// putManifest PUTs data as the manifest ref (with any query) of repo.
func putManifest(host, repo, ref string, data []byte) error {
	req, err := http.NewRequest(http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/vnd.oci.image.index.v1+json")
	return expect(client.Do(req))(http.StatusCreated)
}
