// Package toolstest finds and starts the external programs that tests
// drive: real registry clients (crane, oras, regctl, skopeo), the ocireg
// binary of this module, and CNCF Distribution's registry as a peer.
//
// Tools are looked up in $OCIREG_TOOLS_BIN first (./test.sh installs them
// into ./.tools/bin and sets it), then in $PATH. A test that needs a
// missing tool skips, unless $OCIREG_REQUIRE_TOOLS is 1, in which case it
// fails: CI must never pass by skipping.
package toolstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Require returns the path of the program called name, looked up in
// $OCIREG_TOOLS_BIN and then in $PATH. When there is none, it skips the
// test, or fails it if $OCIREG_REQUIRE_TOOLS is 1.
func Require(t testing.TB, name string) string {
	t.Helper()
	if dir := os.Getenv("OCIREG_TOOLS_BIN"); dir != "" {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("OCIREG_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s is required (OCIREG_REQUIRE_TOOLS=1) but not found in $OCIREG_TOOLS_BIN or $PATH: run ./test.sh to install it", name)
	}
	t.Skipf("%s not found in $OCIREG_TOOLS_BIN or $PATH; ./test.sh installs it", name)
	return ""
}
