package ociauth_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ocireg/ociregistry/ociauth"
)

// This example talks to a registry that wants Basic credentials: the
// Transport answers its challenge with the credentials for its host, as
// it would with those ociauth.Load reads from the docker config.
func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "alice" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="example"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "{}")
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	creds := ociauth.StaticCredentials{host: {Username: "alice", Password: "s3cret"}}
	client := &http.Client{Transport: ociauth.NewTransport(http.DefaultTransport, creds)}
	resp, err := client.Get(srv.URL + "/v2/")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output:
	// 200 OK
}
