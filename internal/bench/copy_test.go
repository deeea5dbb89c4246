package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocicopy"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// copyShapes are the images BenchmarkCopy copies: small layers, which
// clients may buffer, and big ones, which they must stream.
var copyShapes = []struct {
	name         string
	layers, size int
}{
	{"8x1MiB", 8, 1 << 20},
	{"2x16MiB", 2, 16 << 20},
}

// copyRuns numbers the copies of BenchmarkCopy across its runs, so that
// each goes to a repository of its own.
var copyRuns atomic.Int64

// copyClient is a copy tool as BenchmarkCopy runs it: a process per copy.
type copyClient struct {
	name string
	// setup prepares the tool's configuration in home for plain HTTP to
	// the hosts, and returns the program's path.
	setup func(b *testing.B, home string, hosts ...string) string
	args  func(src, dst string) []string
	// freshHome says that the tool remembers where it has seen blobs
	// (skopeo's blob info cache) and would mount them from an earlier
	// copy: each copy gets a new home, set up with the timer stopped.
	freshHome bool
}

var copyClients = []copyClient{{
	name:  "ocireg",
	setup: func(b *testing.B, home string, hosts ...string) string { return toolstest.BuildOcireg(b) },
	args:  func(src, dst string) []string { return []string{"cp", "--quiet", src, dst} },
}, {
	name:  "crane",
	setup: func(b *testing.B, home string, hosts ...string) string { return toolstest.Require(b, "crane") },
	args:  func(src, dst string) []string { return []string{"copy", "--insecure", src, dst} },
}, {
	name: "regctl",
	setup: func(b *testing.B, home string, hosts ...string) string {
		bin := toolstest.Require(b, "regctl")
		for _, h := range hosts {
			cmd := exec.Command(bin, "registry", "set", "--tls", "disabled", h)
			cmd.Env = append(os.Environ(), "HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("regctl registry set: %v\n%s", err, out)
			}
		}
		return bin
	},
	args: func(src, dst string) []string { return []string{"image", "copy", src, dst} },
}, {
	name:  "oras",
	setup: func(b *testing.B, home string, hosts ...string) string { return toolstest.Require(b, "oras") },
	args: func(src, dst string) []string {
		return []string{"cp", "--no-tty", "--from-plain-http", "--to-plain-http", src, dst}
	},
}, {
	name: "skopeo",
	setup: func(b *testing.B, home string, hosts ...string) string {
		bin := toolstest.Require(b, "skopeo")
		policy := `{"default":[{"type":"insecureAcceptAnything"}]}`
		if err := os.WriteFile(filepath.Join(home, "policy.json"), []byte(policy), 0o666); err != nil {
			b.Fatal(err)
		}
		return bin
	},
	args: func(src, dst string) []string {
		return []string{"--policy", "POLICY", "copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests", "docker://" + src, "docker://" + dst}
	},
	freshHome: true,
}}

// BenchmarkCopy measures copying an image from Distribution to ocireg
// with each copy tool, started as a process for each copy as users run
// them: ocireg cp (and so ocicopy), crane copy, regctl image copy, oras cp
// and skopeo copy. Each copy goes to a new repository, so that every blob
// is uploaded. Sub-benchmarks are named layers=NxSIZE/client=NAME;
// throughput is in MB/s.
func BenchmarkCopy(b *testing.B) {
	registries, _ := startServers(b)
	dst, src := registries[0].host, registries[1].host
	for _, shape := range copyShapes {
		b.Run("layers="+shape.name, func(b *testing.B) {
			repo := "copysrc-" + strings.ToLower(shape.name)
			total := pushCopyImage(b, src, repo, "v1", shape.layers, shape.size)
			for _, c := range copyClients {
				b.Run("client="+c.name, func(b *testing.B) {
					home := b.TempDir()
					bin := c.setup(b, home, src, dst)
					b.SetBytes(total)
					for b.Loop() {
						if c.freshHome {
							b.StopTimer()
							home = b.TempDir()
							c.setup(b, home, src, dst)
							b.StartTimer()
						}
						target := fmt.Sprintf("%s/copy-%s-%d:v1", dst, c.name, copyRuns.Add(1))
						args := c.args(src+"/"+repo+":v1", target)
						for j, a := range args {
							if a == "POLICY" {
								args[j] = filepath.Join(home, "policy.json")
							}
						}
						cmd := exec.Command(bin, args...)
						cmd.Env = append(os.Environ(), "HOME="+home, "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
						if out, err := cmd.CombinedOutput(); err != nil {
							b.Fatalf("%s %q: %v\n%s", c.name, args, err, out)
						}
					}
				})
			}
		})
	}
}

// pushCopyImage pushes an image of n random layers of size bytes to
// repo:tag at host and returns the size of its blobs.
func pushCopyImage(b *testing.B, host, repo, tag string, n, size int) int64 {
	ctx := context.Background()
	mem := ocimem.New()
	push := func(mediaType string, data []byte) ociregistry.Descriptor {
		desc := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
		if _, err := mem.PushBlob(ctx, repo, desc, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		return desc
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    push(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`)),
	}
	total := m.Config.Size
	for i := range n {
		l := push(ocispec.MediaTypeImageLayer, randomBytes(uint64(1000+size+i), size))
		m.Layers = append(m.Layers, l)
		total += l.Size
	}
	data, err := json.Marshal(m)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := mem.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest); err != nil {
		b.Fatal(err)
	}
	client, err := ociclient.New(host, &ociclient.Options{Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ocicopy.Copy(ctx, mem, repo, client, repo, tag, nil); err != nil {
		b.Fatal(err)
	}
	return total
}
