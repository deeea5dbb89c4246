package replicas

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
)

// startFS starts n replicas of "ocireg serve --dir" on one directory
// behind a balancer and returns the balancer.
func startFS(t *testing.T, n int) *toolstest.Balancer {
	dir := t.TempDir()
	var hosts []string
	for range n {
		hosts = append(hosts, toolstest.StartOcireg(t, "--dir", dir))
	}
	return toolstest.StartBalancer(t, hosts...)
}

func TestFSConformance(t *testing.T) {
	b := startFS(t, 3)
	conformance.Run(t, "http://"+b.Host, conformance.Options{})
}

func TestFSTagsNeverDangle(t *testing.T) {
	b := startFS(t, 3)
	checkTagsNeverDangle(t, b.Host)
}
