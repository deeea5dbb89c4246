package ociref_test

import (
	"fmt"

	"github.com/ocireg/ociregistry/ociref"
)

func ExampleParse() {
	ref, err := ociref.Parse("localhost:5000/team/app:v1.2")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref.Host, ref.Repository, ref.Tag)

	_, err = ociref.Parse("team/App:v1")
	fmt.Println(err)
	// Output:
	// localhost:5000 team/app v1.2
	// invalid reference "team/App:v1": invalid repository name "team/App": upper-case letter 'A': names are lower-case
}

func ExampleParseDocker() {
	ref, err := ociref.ParseDocker("alpine:3.20")
	if err != nil {
		panic(err)
	}
	fmt.Println(ref)
	fmt.Println(ref.RegistryHost())
	// Output:
	// docker.io/library/alpine:3.20
	// registry-1.docker.io
}
