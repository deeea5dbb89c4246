package conformance

import (
	"net/http"
	"testing"
)

// testPing checks the base endpoint (spec: Determining Support, end-1).
func (s *suite) testPing(t *testing.T) {
	resp := s.c.get(t, "/v2/")
	resp.wantStatus(t, http.StatusOK)
	// Optional in the specification, but every Docker-era client looks
	// for it to tell a v2 registry.
	resp.checkHeader(t, "Docker-Distribution-API-Version", "registry/2.0")
}
