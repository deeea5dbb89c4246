package main

import (
	"context"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
)

const manifestUsage = `usage: ocireg manifest [flags] REF

Write the manifest that REF (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to on
stdout, byte for byte as the registry holds it.

Flags:
`

// runManifest implements "ocireg manifest" and returns the exit code.
func runManifest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := openRef(args, "manifest", manifestUsage, stderr)
	if t == nil {
		return code
	}
	data, _, err := t.getManifest(ctx)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	_, err = stdout.Write(data)
	return verbExitCode(stderr, err)
}

const digestUsage = `usage: ocireg digest [flags] REF

Print the digest of the manifest that REF (HOST[:PORT]/REPO[:TAG][@DIGEST]
or oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to. With
a digest in REF, it checks that the manifest exists.

Flags:
`

// runDigest implements "ocireg digest" and returns the exit code.
func runDigest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := openRef(args, "digest", digestUsage, stderr)
	if t == nil {
		return code
	}
	var desc ociregistry.Descriptor
	var err error
	if t.digest != "" {
		desc, err = t.reg.ResolveManifest(ctx, t.repo, t.digest)
	} else {
		desc, err = t.reg.ResolveTag(ctx, t.repo, t.tagOrLatest())
	}
	if err == nil && desc.Digest == "" {
		// The registry did not say: work it out from the content.
		_, desc, err = t.getManifest(ctx)
	}
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}

const blobUsage = `usage: ocireg blob [flags] REPO@DIGEST

Write the blob with the given digest in REPO (HOST[:PORT]/REPO@DIGEST or
oci:DIR@DIGEST) on stdout. The content is checked against the digest;
when it does not match, the command fails after writing it.

Flags:
`

// runBlob implements "ocireg blob" and returns the exit code.
func runBlob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	t, code := openRef(args, "blob", blobUsage, stderr)
	if t == nil {
		return code
	}
	if t.digest == "" {
		return usageErrorf(stderr, "blob needs a digest: REPO@DIGEST")
	}
	r, err := t.reg.GetBlob(ctx, t.repo, t.digest)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	defer r.Close()
	v := t.digest.Verifier()
	if _, err := io.Copy(io.MultiWriter(stdout, v), r); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	if !v.Verified() {
		return verbExitCode(stderr, t.describe(fmt.Errorf("content does not match the digest: %w", ociregistry.ErrDigestInvalid)))
	}
	return exitOK
}

// openRef parses the flags and the one reference of a verb, and opens
// it. It returns nil and the exit code when that fails.
func openRef(args []string, name, usageText string, stderr io.Writer) (*target, int) {
	fs, cf := newClientFlagSet(name, usageText, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, flagExitCode(err)
	}
	if len(pos) != 1 {
		return nil, usageErrorf(stderr, "%s needs one reference, got %d arguments (see ocireg %s -h)", name, len(pos), name)
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return nil, usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, false); err != nil {
		return nil, verbExitCode(stderr, t.describe(err))
	}
	return &t, exitOK
}
