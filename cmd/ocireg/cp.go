package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocicopy"
)

const cpUsage = `usage: ocireg cp [flags] SRC DST
       ocireg cp --all-tags [flags] SRC_REPO DST_REPO

Copy an image or an index, with every manifest and blob it refers to, from
SRC to DST. Each is a registry reference (HOST[:PORT]/REPO[:TAG][@DIGEST])
or an OCI image layout directory (oci:DIR[:TAG][@DIGEST]); SRC without a
tag or digest means :latest, and DST without one gets SRC's tag (none when
SRC names a digest). Manifests are copied byte for byte, children first,
so digests do not change. Blobs and manifests already at DST are not
copied again, and between repositories of the same registry blobs are
mounted, not copied.

With --all-tags, every tag of SRC_REPO is copied to the same tag in
DST_REPO (neither may name a tag or digest). Running it again copies only
what is missing, so an interrupted copy resumes; one "TAG DIGEST" line is
printed per tag copied.

On a terminal a progress line is shown on stderr. The digest of the
manifest copied is printed on stdout.

Exit codes: 0 copied; 1 failed (with --all-tags: some tag failed, the
others were copied); 2 bad command line; 3 SRC does not exist.

Flags:
`

// runCp implements "ocireg cp" and returns the exit code.
func runCp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("cp", cpUsage, stderr)
	referrers := fs.Bool("referrers", false, "also copy the referrers of every manifest copied (signatures, SBOMs...), recursively")
	jobs := fs.Int("jobs", 4, "number of blobs copied at once")
	var pf platformFlag
	pf.register(fs)
	quiet := fs.Bool("quiet", false, "show no progress, even on a terminal")
	allTags := fs.Bool("all-tags", false, "copy every tag of SRC_REPO to DST_REPO")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 2 {
		return usageErrorf(stderr, "cp needs SRC and DST, got %d arguments (see ocireg cp -h)", len(pos))
	}
	if *jobs < 1 {
		return usageErrorf(stderr, "--jobs must be at least 1")
	}
	plat := pf.p
	src, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	dst, err := parseTarget(pos[1])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if *allTags {
		for _, t := range []*target{&src, &dst} {
			if t.tag != "" || t.digest != "" {
				return usageErrorf(stderr, "with --all-tags, %s must name a repository, without a tag or digest", t.name)
			}
		}
	}
	if err := src.open(cf, false); err != nil {
		return verbExitCode(stderr, src.describe(err))
	}
	if err := dst.open(cf, true); err != nil {
		return verbExitCode(stderr, dst.describe(err))
	}
	prog := newProgress(stderr, *quiet)
	opts := &ocicopy.Options{
		Referrers:   *referrers,
		Platform:    plat,
		Concurrency: *jobs,
		// Mounting works only within one registry; layouts have
		// nothing to mount from.
		Mount: src.host != "" && src.host == dst.host && src.repo != dst.repo,
		Progress: func(ev ocicopy.Event) {
			if ev.Kind == ocicopy.Warning {
				fmt.Fprintf(stderr, "ocireg: warning: %s: %v\n", src.where(), ev.Err)
				return
			}
			prog.event(ev)
		},
	}
	if *allTags {
		return copyAllTags(ctx, &src, &dst, opts, prog, stdout, stderr)
	}
	prog.start()
	desc, err := copyOne(ctx, &src, &dst, opts)
	prog.finish()
	if err != nil {
		return verbExitCode(stderr, err)
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}

// copyOne copies the manifest src names to dst.
func copyOne(ctx context.Context, src, dst *target, opts *ocicopy.Options) (ociregistry.Descriptor, error) {
	ref := string(src.digest)
	if ref == "" {
		ref = src.tagOrLatest()
	}
	img := ocicopy.Image{Src: src.reg, SrcRepo: src.repo, Ref: ref, Dst: dst.reg, DstRepo: dst.repo, Tag: dst.tag}
	if dst.digest != "" {
		// DST pins a digest: check it before copying anything,
		// then copy that digest (tagged only when DST has a tag).
		desc, err := ocicopy.Resolve(ctx, src.reg, src.repo, ref, opts)
		if err != nil {
			return ociregistry.Descriptor{}, copyError(err, src, dst)
		}
		if desc.Digest != dst.digest {
			return ociregistry.Descriptor{}, fmt.Errorf("%s: %s has digest %s, not the one the destination names: %w", dst.name, src.name, desc.Digest, ociregistry.ErrDigestInvalid)
		}
		img.Ref = string(desc.Digest)
		noPlatform := *opts
		noPlatform.Platform = nil
		opts = &noPlatform
	} else if img.Tag == "" {
		// DST gets SRC's tag, latest when SRC names neither tag nor
		// digest, none when it names only a digest.
		img.Tag = src.tag
		if img.Tag == "" && src.digest == "" {
			img.Tag = "latest"
		}
	}
	descs, err := ocicopy.CopyAll(ctx, []ocicopy.Image{img}, opts)
	if err != nil {
		return ociregistry.Descriptor{}, copyError(err, src, dst)
	}
	return descs[0], nil
}

// copyAllTags copies every tag of src's repository to dst's, and returns
// the exit code.
func copyAllTags(ctx context.Context, src, dst *target, opts *ocicopy.Options, prog *progress, stdout, stderr io.Writer) int {
	tags, err := ociregistry.All(src.reg.Tags(ctx, src.repo, ""))
	if err != nil {
		return verbExitCode(stderr, src.describe(fmt.Errorf("listing tags: %w", err)))
	}
	images := make([]ocicopy.Image, len(tags))
	for i, tag := range tags {
		images[i] = ocicopy.Image{Src: src.reg, SrcRepo: src.repo, Ref: tag, Dst: dst.reg, DstRepo: dst.repo}
	}
	prog.start()
	descs, err := ocicopy.CopyAll(ctx, images, opts)
	prog.finish()
	for i, desc := range descs {
		if desc.Digest != "" {
			fmt.Fprintf(stdout, "%s %s\n", tags[i], desc.Digest)
		}
	}
	if err == nil {
		return exitOK
	}
	// One line per tag that failed, each as ocireg cp would say it:
	// CopyAll's errors come in the order of the images.
	var joined interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &joined) {
		errs = joined.Unwrap()
	}
	for i, desc := range descs {
		if desc.Digest != "" || len(errs) == 0 {
			continue
		}
		tagged := *src
		tagged.name = src.name + ":" + tags[i]
		fmt.Fprintf(stderr, "ocireg: %v\n", copyError(errs[0], &tagged, dst))
		errs = errs[1:]
	}
	return exitFailure
}

// copyError returns an error of ocicopy as a message about the reference
// of the side it came from.
func copyError(err error, src, dst *target) error {
	var npe *ocicopy.NoPlatformError
	if errors.As(err, &npe) {
		return &verbError{msg: src.name + ": " + npe.Error(), err: err}
	}
	var ce *ocicopy.Error
	if errors.As(err, &ce) {
		if ce.Side == ocicopy.Destination {
			return dst.describe(ce.Err)
		}
		return src.describe(ce.Err)
	}
	return err
}
