package main

import (
	"path/filepath"
	"testing"

	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestDistributionScripts runs the scripts in testdata/distribution, which
// drive the client verbs against CNCF Distribution as the far registry:
// each script gets $DIST, a fresh Distribution on 127.0.0.1, besides the
// registries of TestVerbScripts, and oras on $PATH. It skips without
// Distribution's "registry" program or oras (see toolstest.Require).
func TestDistributionScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/distribution",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			if err := setupRegistries(env); err != nil {
				return err
			}
			// The script's own test, so that Distribution stops
			// when the script ends.
			tb := env.T().(testing.TB)
			env.Setenv("DIST", toolstest.StartDistribution(tb))
			// oras, to check that what ocireg pushes is what oras
			// users expect, and the other way round.
			env.Setenv("PATH", filepath.Dir(toolstest.Require(tb, "oras"))+string(filepath.ListSeparator)+env.Getenv("PATH"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seed":      cmdSeed,
			"reqlog":    cmdReqLog,
			"stdoutenv": cmdStdoutEnv,
			"exitcode":  cmdExitCode,
		},
	})
}
