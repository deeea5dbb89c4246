package ociregistry_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
)

// libraryModules are the modules a program importing every library
// package gets in its graph: the three the design names (go-digest,
// image-spec and qt, which ocitest uses) and what their own go.mod
// files require. The binary's dependencies (YAML, metrics, bcrypt,
// testscript) and the object-storage backend's (the AWS SDK)
// live in nested modules and must not appear here.
var libraryModules = []string{
	"github.com/go-quicktest/qt",
	"github.com/google/go-cmp",        // qt
	"github.com/kr/pretty",            // qt
	"github.com/kr/text",              // qt, via kr/pretty
	"github.com/rogpeppe/go-internal", // qt, via kr/pretty
	// What go-internal's go.mod requires enters the graph because
	// ocitest imports qt; none of those packages is built.
	"github.com/creack/pty",
	"github.com/pkg/diff",
	"golang.org/x/mod",
	"golang.org/x/sys",
	"golang.org/x/tools",
	"github.com/opencontainers/go-digest",
	"github.com/opencontainers/image-spec",
	"github.com/russross/blackfriday",          // image-spec
	"github.com/santhosh-tekuri/jsonschema/v5", // image-spec
}

// TestLibraryModuleGraph builds a throwaway module that imports every
// public package of the library and checks what `go list -m all` holds.
func TestLibraryModuleGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command over the module proxy")
	}
	root, err := os.Getwd()
	qt.Assert(t, qt.IsNil(err))
	env := append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	goCmd := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}

	var imports strings.Builder
	for pkg := range strings.Lines(goCmd(root, "list", "./...")) {
		pkg = strings.TrimSpace(pkg)
		if strings.Contains(pkg+"/", "/internal/") {
			continue
		}
		fmt.Fprintf(&imports, "\t_ %q\n", pkg)
	}
	user := t.TempDir()
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(user, "go.mod"), fmt.Appendf(nil,
		"module example.com/user\n\ngo 1.26.0\n\nrequire github.com/ocireg/ociregistry v0.0.0\n\nreplace github.com/ocireg/ociregistry => %s\n", root), 0o666)))
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(user, "main.go"), fmt.Appendf(nil,
		"package main\n\nimport (\n%s)\n\nfunc main() {}\n", imports.String()), 0o666)))
	goCmd(user, "mod", "tidy")

	var got []string
	for line := range strings.Lines(goCmd(user, "list", "-m", "-f", "{{.Path}}", "all")) {
		path := strings.TrimSpace(line)
		if path != "example.com/user" && path != "github.com/ocireg/ociregistry" {
			got = append(got, path)
		}
	}
	want := slices.Clone(libraryModules)
	slices.Sort(want)
	slices.Sort(got)
	qt.Assert(t, qt.DeepEquals(got, want))
}
