package main

import (
	"testing"

	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestDistributionScripts runs the scripts in testdata/distribution, which
// drive the client verbs against CNCF Distribution as the far registry:
// each script gets $DIST, a fresh Distribution on 127.0.0.1, besides the
// registries of TestVerbScripts. It skips without Distribution's
// "registry" program (see toolstest.Require).
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
			env.Setenv("DIST", toolstest.StartDistribution(env.T().(testing.TB)))
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
