package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
)

const tagUsage = `usage: ocireg tag [flags] REF NEWTAG...

Point each NEWTAG at the manifest that REF names (HOST[:PORT]/REPO:TAG,
REPO@DIGEST, or oci:DIR[:TAG][@DIGEST]), in REF's repository. Nothing is
copied: the manifest's exact bytes are pushed again under each new tag, so
its digest stays the same, and a tag that pointed elsewhere moves. The
digest is printed.

Exit codes: 0 tagged; 1 failed (the tags before the failing one were
set); 2 bad command line or tag; 3 REF does not exist.

Flags:
`

// runTag implements "ocireg tag" and returns the exit code.
func runTag(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("tag", tagUsage, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) < 2 {
		return usageErrorf(stderr, "tag needs REF and at least one NEWTAG, got %d arguments (see ocireg tag -h)", len(pos))
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	tags := pos[1:]
	for _, tag := range tags {
		// Every tag is checked before any is set, so that a typo
		// leaves nothing half done.
		if err := ociregistry.CheckTag(tag); err != nil {
			return usageErrorf(stderr, "%v", err)
		}
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	data, desc, err := t.getManifest(ctx)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	for _, tag := range tags {
		if _, err := t.reg.PushManifest(ctx, t.repo, tag, data, desc.MediaType); err != nil {
			err = fmt.Errorf("tagging %s: %w", tag, err)
			// Not "manifest unknown": REF was found, the tag is
			// what failed.
			fmt.Fprintf(stderr, "ocireg: %s: %v\n", t.name, err)
			return exitFailure
		}
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}
