package replicas

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/conformance"
	"github.com/ocireg/ociregistry/internal/toolstest"
)

// startS3 starts n replicas of "ocireg serve --config" with a registry of
// kind s3 on one versitygw bucket, with args added, behind a balancer,
// and returns the balancer and the replicas.
func startS3(t *testing.T, n int, args ...string) (*toolstest.Balancer, []string) {
	config := toolstest.S3Config(t)
	var hosts []string
	for range n {
		hosts = append(hosts, toolstest.StartOcireg(t, append([]string{"--config", config}, args...)...))
	}
	return toolstest.StartBalancer(t, hosts...), hosts
}

func TestS3Conformance(t *testing.T) {
	b, _ := startS3(t, 3)
	conformance.Run(t, "http://"+b.Host, conformance.Options{})
}

func TestS3TagsNeverDangle(t *testing.T) {
	b, _ := startS3(t, 3)
	checkTagsNeverDangle(t, b.Host)
}

func TestS3UploadsAcrossReplicas(t *testing.T) {
	_, hosts := startS3(t, 3, uploadLimitArgs...)
	checkUploadsAcrossReplicas(t, hosts)
}
