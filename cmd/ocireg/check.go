package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ocireg/ociregistry/ocifs"
)

const checkUsage = `usage: ocireg check [flags]

Check the on-disk registry in --dir (as served by "ocireg serve --dir"):
every blob's content has its digest, no partial or stray file is left,
every link and tag names content that exists, and every tag leads to a
manifest whose blobs and child manifests are all there. It reads all the
content and changes nothing. Each problem found is printed on stdout, one
a line; "ok" is printed when there is none.

Exit codes: 0 consistent; 1 damaged (problems printed), or the directory
could not be read; 2 bad command line.

Flags:
`

// runCheck implements "ocireg check" and returns the exit code.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), checkUsage)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "ocireg-data", "the registry's `directory`, as given to ocireg serve --dir")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) > 0 {
		return usageErrorf(stderr, "check takes no arguments, got %q (the directory goes in --dir)", pos[0])
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", *dir)
		}
		fmt.Fprintf(stderr, "ocireg: %v\n", err)
		return exitFailure
	}
	err = ocifs.Check(ctx, *dir)
	if err == nil {
		fmt.Fprintln(stdout, "ok")
		return exitOK
	}
	// Check joins its problems: one a line.
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, p := range joined.Unwrap() {
			fmt.Fprintln(stdout, p)
		}
	} else {
		fmt.Fprintln(stdout, err)
	}
	fmt.Fprintf(stderr, "ocireg: %s is damaged\n", *dir)
	return exitFailure
}
