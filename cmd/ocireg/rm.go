package main

import (
	"context"
	"io"
)

const rmUsage = `usage: ocireg rm [flags] REF

Remove what REF names. With a tag (HOST[:PORT]/REPO:TAG), only the tag
goes: the manifest stays, reachable by digest and by its other tags. With
a digest (HOST[:PORT]/REPO@DIGEST), the manifest goes, with every tag
pointing to it. Blobs are left for the registry's garbage collection.
REF may also be oci:DIR:TAG or oci:DIR@DIGEST.

Flags:
`

// runRm implements "ocireg rm" and returns the exit code.
func runRm(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := openRef(args, "rm", rmUsage, stderr)
	if t == nil {
		return code
	}
	var err error
	switch {
	case t.digest != "":
		err = t.reg.DeleteManifest(ctx, t.repo, t.digest)
	case t.tag != "":
		err = t.reg.DeleteTag(ctx, t.repo, t.tag)
	default:
		return usageErrorf(stderr, "rm needs a tag or a digest: REPO:TAG or REPO@DIGEST")
	}
	return verbExitCode(stderr, t.describe(err))
}
