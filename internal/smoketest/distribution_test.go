package smoketest

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/toolstest"
)

// TestDistribution checks that images move between ocireg and CNCF
// Distribution unchanged, in both directions.
func TestDistribution(t *testing.T) {
	t.Parallel()
	crane := newTool(t, toolstest.Require(t, "crane"))
	dist := toolstest.StartDistribution(t)
	host := toolstest.StartOcireg(t)
	img := pushRandomImage(t, host, "peer/img", "v1")
	idx := pushRandomIndex(t, host, "peer/multi", "v1")

	crane.run("copy", "--insecure", host+"/peer/img:v1", dist+"/peer/img:v1")
	assertSameImage(t, dist, "peer/img", "v1", img)
	crane.run("copy", "--insecure", host+"/peer/multi:v1", dist+"/peer/multi:v1")
	assertSameIndex(t, dist, "peer/multi", "v1", idx)

	crane.run("copy", "--insecure", dist+"/peer/img:v1", host+"/peer/back:v1")
	assertSameImage(t, host, "peer/back", "v1", img)
	crane.run("copy", "--insecure", dist+"/peer/multi:v1", host+"/peer/multi-back:v1")
	assertSameIndex(t, host, "peer/multi-back", "v1", idx)
}
