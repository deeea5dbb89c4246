package replicas

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
)

// startFS starts n replicas of "ocireg serve --dir" on one directory,
// with args added, behind a balancer, and returns the balancer and the
// replicas.
func startFS(t *testing.T, n int, args ...string) (*toolstest.Balancer, []string) {
	dir := t.TempDir()
	var hosts []string
	for range n {
		hosts = append(hosts, toolstest.StartOcireg(t, append([]string{"--dir", dir}, args...)...))
	}
	return toolstest.StartBalancer(t, hosts...), hosts
}

func TestFSConformance(t *testing.T) {
	b, _ := startFS(t, 3)
	conformance.Run(t, "http://"+b.Host, conformance.Options{})
}

func TestFSTagsNeverDangle(t *testing.T) {
	b, _ := startFS(t, 3)
	checkTagsNeverDangle(t, b.Host)
}

func TestFSUploadsAcrossReplicas(t *testing.T) {
	_, hosts := startFS(t, 3, uploadLimitArgs...)
	checkUploadsAcrossReplicas(t, hosts)
}
