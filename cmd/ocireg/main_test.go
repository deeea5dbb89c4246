package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry/internal/toolstest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	// Scripts run "ocireg" as a program: testscript puts a copy of this
	// test binary named ocireg on $PATH, which runs main.
	testscript.Main(m, map[string]func(){"ocireg": main})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			// Under -race, every ocireg run would otherwise sleep a
			// second as it exits (the race detector's default
			// atexit_sleep_ms).
			env.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitaddr": cmdWaitAddr,
			"http":     cmdHTTP,
			"subst":    cmdSubst,
			"gencert":  cmdGencert,
			"sleep":    cmdSleep,
			"exitcode": cmdExitCode,
		},
	})
}

// cmdWaitAddr implements "waitaddr FILE VAR": it waits for FILE, as
// written by "ocireg serve --addr-file FILE", and sets $VAR to the
// address in it.
func cmdWaitAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: waitaddr FILE VAR")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(ts.MkAbs(args[0]))
		if err == nil {
			ts.Setenv(args[1], strings.TrimSpace(string(data)))
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no address after 30s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cmdHTTP implements "[!] http [-u USER:PASSWORD] [-ca CERTFILE] [-i]
// METHOD URL [BODYFILE]": it sends one request, with Basic credentials
// with -u and trusting the PEM certificate in CERTFILE with -ca, and
// writes "HTTP <status>", the response headers with -i (one
// "Name: value" a line) and the response body to stdout. It fails unless
// the status is 2xx (with !, unless it is not).
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	var userinfo, caFile string
	var headers bool
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-i":
			headers = true
			args = args[1:]
			continue
		case "-u", "-ca":
			if len(args) < 2 {
				ts.Fatalf("%s needs a value", args[0])
			}
			if args[0] == "-u" {
				userinfo = args[1]
			} else {
				caFile = ts.MkAbs(args[1])
			}
			args = args[2:]
			continue
		}
		ts.Fatalf("unknown option %s", args[0])
	}
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: http [-u USER:PASSWORD] [-ca CERTFILE] [-i] METHOD URL [BODYFILE]")
	}
	var body io.Reader
	if len(args) == 3 {
		data, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequest(args[0], args[1], body)
	ts.Check(err)
	if strings.Contains(args[1], "/manifests/") {
		req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	}
	if user, password, ok := strings.Cut(userinfo, ":"); ok {
		req.SetBasicAuth(user, password)
	}
	client := http.DefaultClient
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		ts.Check(err)
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			ts.Fatalf("no certificate in %s", caFile)
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	fmt.Fprintf(ts.Stdout(), "HTTP %d\n", resp.StatusCode)
	if headers {
		for _, name := range slices.Sorted(maps.Keys(resp.Header)) {
			for _, v := range resp.Header[name] {
				fmt.Fprintf(ts.Stdout(), "%s: %s\n", name, v)
			}
		}
	}
	_, err = io.Copy(ts.Stdout(), resp.Body)
	ts.Check(err)
	if ok := resp.StatusCode/100 == 2; ok == neg {
		ts.Fatalf("%s %s: unexpected status %s", args[0], args[1], resp.Status)
	}
}

// cmdSubst implements "subst FILE...": it replaces $VAR and ${VAR} in
// each FILE by the value of the script's variable.
func cmdSubst(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: subst FILE...")
	}
	for _, name := range args {
		data, err := os.ReadFile(ts.MkAbs(name))
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(name), []byte(os.Expand(string(data), ts.Getenv)), 0o666))
	}
}

// cmdExitCode implements "exitcode N PROGRAM [ARGS...]": it runs
// PROGRAM, as exec does, and fails unless it exits with status N.
// testscript's own "! exec" tells only that the status was not 0.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = exitErr.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// cmdSleep implements "sleep DURATION".
func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// cmdGencert implements "gencert CERTFILE KEYFILE": it writes a
// self-signed certificate for 127.0.0.1 and localhost, and its key, in
// PEM.
func cmdGencert(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: gencert CERTFILE KEYFILE")
	}
	cert, key, err := toolstest.SelfSignedCert()
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), cert, 0o666))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), key, 0o600))
}

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "NoCommand", args: nil, wantCode: exitUsage, wantStderr: "usage: ocireg <command>"},
		{name: "UnknownCommand", args: []string{"frob"}, wantCode: exitUsage, wantStderr: `unknown command "frob"`},
		{name: "Help", args: []string{"help"}, wantCode: exitOK, wantStdout: "usage: ocireg <command>"},
		{name: "ServeHelp", args: []string{"serve", "-h"}, wantCode: exitOK, wantStdout: "usage: ocireg serve"},
		{name: "ServeBadFlag", args: []string{"serve", "--frob"}, wantCode: exitUsage, wantStderr: "flag provided but not defined: -frob"},
		{name: "ServeExtraArg", args: []string{"serve", "extra"}, wantCode: exitUsage, wantStderr: `unexpected argument "extra"`},
		{name: "ServeBadLogFormat", args: []string{"serve", "--log-format", "xml"}, wantCode: exitUsage, wantStderr: `unknown --log-format "xml"`},
		{name: "ServeMissingConfig", args: []string{"serve", "--config", "/nonexistent/ocireg.yaml"}, wantCode: exitUsage, wantStderr: "no such file or directory"},
		{name: "ServeConfigAndMem", args: []string{"serve", "--config", "x.yaml", "--mem"}, wantCode: exitUsage, wantStderr: "--mem cannot be used with --config"},
		{name: "GCMissingDir", args: []string{"gc", "--dir", "/nonexistent/ocireg-data"}, wantCode: exitFailure, wantStderr: "no such file or directory"},
		{name: "GCBadFlag", args: []string{"gc", "--frob"}, wantCode: exitUsage, wantStderr: "flag provided but not defined: -frob"},
		{name: "ServeCannotListen", args: []string{"serve", "--mem", "--addr", "127.0.0.1:-1"}, wantCode: exitUsage, wantStderr: "ocireg serve: listen tcp: address -1: invalid port"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), test.args, &stdout, &stderr)
			qt.Check(t, qt.Equals(code, test.wantCode))
			if test.wantStdout == "" {
				qt.Check(t, qt.Equals(stdout.String(), ""))
			} else {
				qt.Check(t, qt.StringContains(stdout.String(), test.wantStdout))
			}
			qt.Check(t, qt.StringContains(stderr.String(), test.wantStderr))
		})
	}
}
