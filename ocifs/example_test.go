package ocifs_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ocireg/ociregistry/ocifs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// This example stores a blob in a directory, opens the directory again
// as a new Registry (as a restarted server would), reads the blob back,
// and checks the directory with Check.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ocifs-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	r, err := ocifs.New(dir, nil)
	if err != nil {
		panic(err)
	}
	data := "hello, disk"
	desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(data), Size: int64(len(data))}
	if _, err := r.PushBlob(ctx, "library/hello", desc, strings.NewReader(data)); err != nil {
		panic(err)
	}

	again, err := ocifs.New(dir, nil)
	if err != nil {
		panic(err)
	}
	rd, err := again.GetBlob(ctx, "library/hello", desc.Digest)
	if err != nil {
		panic(err)
	}
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(got))

	if err := ocifs.Check(ctx, dir); err != nil {
		panic(err)
	}
	fmt.Println("the directory is consistent")
	// Output:
	// hello, disk
	// the directory is consistent
}
