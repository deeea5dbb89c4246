package replicas

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
)

// startS3 starts n replicas of "ocireg serve --config" with a registry of
// kind s3 on one versitygw bucket behind a balancer and returns the
// balancer.
func startS3(t *testing.T, n int) *toolstest.Balancer {
	config := toolstest.S3Config(t)
	var hosts []string
	for range n {
		hosts = append(hosts, toolstest.StartOcireg(t, "--config", config))
	}
	return toolstest.StartBalancer(t, hosts...)
}

func TestS3Conformance(t *testing.T) {
	b := startS3(t, 3)
	conformance.Run(t, "http://"+b.Host, conformance.Options{})
}

func TestS3TagsNeverDangle(t *testing.T) {
	b := startS3(t, 3)
	checkTagsNeverDangle(t, b.Host)
}
