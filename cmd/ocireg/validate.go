package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocicopy"
)

const validateUsage = `usage: ocireg validate [flags] REF

Check that the manifest REF names (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]) is whole: every child manifest and blob it refers
to, recursively, can be read, and each has the digest and size its
descriptor gives. Every byte is downloaded, and nothing is written. With
--referrers the referrers of each manifest are checked too.

It prints "REF: valid: N manifests, M blobs (SIZE)" when all is well, and
otherwise what is missing or wrong.

Exit codes: 0 valid; 1 invalid (something missing or wrong) or a failure;
2 bad command line; 3 REF does not exist.

Flags:
`

// runValidate implements "ocireg validate" and returns the exit code.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("validate", validateUsage, stderr)
	referrers := fs.Bool("referrers", false, "also check the referrers of every manifest, recursively")
	jobs := fs.Int("jobs", 4, "number of blobs read at once")
	var pf platformFlag
	pf.register(fs)
	quiet := fs.Bool("quiet", false, "show no progress, even on a terminal")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "validate needs one reference, got %d arguments (see ocireg validate -h)", len(pos))
	}
	if *jobs < 1 {
		return usageErrorf(stderr, "--jobs must be at least 1")
	}
	plat := pf.p
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	ref := string(t.digest)
	if ref == "" {
		ref = t.tagOrLatest()
	}
	// The root is looked up first, so that a REF that does not exist
	// (exit 3) is told apart from a child that is missing (exit 1).
	opts := &ocicopy.Options{Platform: plat}
	root, err := ocicopy.Resolve(ctx, t.reg, t.repo, ref, opts)
	if err != nil {
		return verbExitCode(stderr, copyError(err, &t, &t))
	}
	prog := newProgress(stderr, *quiet)
	prog.verb = "checking"
	var manifests, blobs int
	var size int64
	opts = &ocicopy.Options{
		Referrers:   *referrers,
		Concurrency: *jobs,
		Progress: func(ev ocicopy.Event) {
			switch ev.Kind {
			case ocicopy.Warning:
				fmt.Fprintf(stderr, "ocireg: warning: %s: %v\n", t.where(), ev.Err)
			case ocicopy.ManifestPushed:
				manifests++
			case ocicopy.BlobCopied:
				blobs++
				size += ev.Descriptor.Size
			}
			prog.event(ev)
		},
	}
	// Copying to a registry that only checks what it is sent reads
	// everything, verified, with copy's concurrency and progress.
	prog.start()
	_, err = ocicopy.Copy(ctx, t.reg, t.repo, verifier(), "", string(root.Digest), opts)
	prog.finish()
	if err != nil {
		// The details say which blob or manifest is wrong.
		var ce *ocicopy.Error
		if errors.As(err, &ce) {
			err = ce.Err
		}
		fmt.Fprintf(stderr, "ocireg: %s: invalid: %v\n", t.name, err)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s: valid: %d manifests, %d blobs (%s)\n", t.name, manifests, blobs, byteSize(size))
	return exitOK
}

// verifier returns a registry that holds nothing and stores nothing: it
// reads every blob pushed to it and checks it against its descriptor, and
// accepts every manifest (ocicopy has checked their digests as it read
// them).
func verifier() ociregistry.Interface {
	return &ociregistry.Funcs{
		PushBlob_: func(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
			if err := ociregistry.CheckDigest(desc.Digest); err != nil {
				return ociregistry.Descriptor{}, err
			}
			v := desc.Digest.Verifier()
			// One byte more than the size, to notice content that
			// is too long without reading all of it.
			n, err := io.Copy(v, io.LimitReader(r, desc.Size+1))
			switch {
			case err != nil:
				return ociregistry.Descriptor{}, err
			case n > desc.Size:
				return ociregistry.Descriptor{}, fmt.Errorf("content is longer than the %d bytes its descriptor says: %w", desc.Size, ociregistry.ErrSizeInvalid)
			case n < desc.Size:
				return ociregistry.Descriptor{}, fmt.Errorf("content is %d bytes long, its descriptor says %d: %w", n, desc.Size, ociregistry.ErrSizeInvalid)
			case !v.Verified():
				return ociregistry.Descriptor{}, fmt.Errorf("content does not match digest: %w", ociregistry.ErrDigestInvalid)
			}
			return desc, nil
		},
		PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
			return ociregistry.Descriptor{}, nil
		},
	}
}
