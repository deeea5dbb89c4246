package ociserver_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociserver"
	"github.com/opencontainers/go-digest"
)

// Example serves an in-memory registry over HTTP, pushes a blob with a
// single POST and reads it back.
func Example() {
	srv := httptest.NewServer(ociserver.New(ocimem.New(), nil))
	defer srv.Close()

	const content = "hello"
	d := digest.FromString(content)
	resp, err := http.Post(srv.URL+"/v2/example/blobs/uploads/?digest="+string(d), "application/octet-stream", strings.NewReader(content))
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Location"))

	resp, err = http.Get(srv.URL + "/v2/example/blobs/" + string(d))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(data))
	// Output:
	// 201 Created /v2/example/blobs/sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824
	// 200 OK hello
}
