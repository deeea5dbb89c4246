package ocitest_test

import (
	"net/http"
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// This example shows the two ways a test uses ocitest: running the suite
// against an implementation of ociregistry.Interface, and serving a
// registry with content in it to a tool that talks HTTP. The example is
// compiled but not run: both functions need the *testing.T of a test.
func Example() {
	// In a _test.go file of the package that implements the Interface.
	// Here ocimem stands in for it; New must return an empty registry.
	testSuite := func(t *testing.T) {
		ocitest.Run(t, ocitest.Suite{
			New: func(t *testing.T) ociregistry.Interface {
				return ocimem.New()
			},
			// Set flags only for documented differences, such as
			// NoDelete for a read-only wrapper.
		})
	}

	// In a test of a tool that pulls images from a registry.
	testTool := func(t *testing.T) {
		r := ocimem.New()
		host := ocitest.NewServer(t, r) // "127.0.0.1:port", closed when t ends
		image := ocitest.PushRandomImage(t, r, "library/app", "v1")
		resp, err := http.Head("http://" + host + "/v2/library/app/manifests/v1")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Docker-Content-Digest"); got != string(image.Manifest.Digest) {
			t.Fatalf("served digest %s, pushed %s", got, image.Manifest.Digest)
		}
	}

	// Go's test runner calls functions like these; an example cannot.
	_, _ = testSuite, testTool
}
