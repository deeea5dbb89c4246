package smoketest

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// TestClientsThroughReplicas runs the real clients against three
// "ocireg serve" processes on one directory behind a round-robin
// balancer, so that consecutive requests of a client (the chunks of an
// upload, a push and the pull after it) land on different replicas.
func TestClientsThroughReplicas(t *testing.T) {
	dir := t.TempDir()
	var hosts []string
	for range 3 {
		hosts = append(hosts, toolstest.StartOcireg(t, "--dir", dir))
	}
	runClients(t, toolstest.StartBalancer(t, hosts...).Host)
}

// TestClientsThroughS3Replicas is TestClientsThroughReplicas with the
// replicas serving one S3 bucket (versitygw) instead of a directory.
func TestClientsThroughS3Replicas(t *testing.T) {
	config := toolstest.S3Config(t)
	var hosts []string
	for range 3 {
		hosts = append(hosts, toolstest.StartOcireg(t, "--config", config))
	}
	runClients(t, toolstest.StartBalancer(t, hosts...).Host)
}

// runClients runs each real client's test against host, in parallel.
func runClients(t *testing.T, host string) {
	for name, test := range map[string]func(*testing.T, string){
		"crane":  testCrane,
		"oras":   testOras,
		"regctl": testRegctl,
		"skopeo": testSkopeo,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, host)
		})
	}
}
