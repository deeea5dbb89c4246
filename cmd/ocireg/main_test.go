package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
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
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitaddr": cmdWaitAddr,
			"http":     cmdHTTP,
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

// cmdHTTP implements "[!] http METHOD URL [BODYFILE]": it sends one
// request and writes "HTTP <status>" and the response body to stdout.
// It fails unless the status is 2xx (with !, unless it is not).
func cmdHTTP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: http METHOD URL [BODYFILE]")
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
	resp, err := http.DefaultClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	fmt.Fprintf(ts.Stdout(), "HTTP %d\n", resp.StatusCode)
	_, err = io.Copy(ts.Stdout(), resp.Body)
	ts.Check(err)
	if ok := resp.StatusCode/100 == 2; ok == neg {
		ts.Fatalf("%s %s: unexpected status %s", args[0], args[1], resp.Status)
	}
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
		{name: "ServeHelp", args: []string{"serve", "-h"}, wantCode: exitOK, wantStderr: "usage: ocireg serve"},
		{name: "ServeBadFlag", args: []string{"serve", "--frob"}, wantCode: exitUsage, wantStderr: "flag provided but not defined: -frob"},
		{name: "ServeExtraArg", args: []string{"serve", "extra"}, wantCode: exitUsage, wantStderr: `unexpected argument "extra"`},
		{name: "ServeBadLogFormat", args: []string{"serve", "--log-format", "xml"}, wantCode: exitUsage, wantStderr: `unknown --log-format "xml"`},
		{name: "ServeCannotListen", args: []string{"serve", "--addr", "127.0.0.1:-1"}, wantCode: exitFailure, wantStderr: "serve failed"},
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
