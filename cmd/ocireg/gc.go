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

const gcUsage = `usage: ocireg gc [flags]

Delete what nothing refers to from the on-disk registry in --dir: blobs
that no manifest reached from a tag (and, without --delete-untagged, from
any manifest) refers to, and uploads abandoned for longer than
--upload-max-age. Nothing written within --grace is deleted, so gc is safe
while "ocireg serve --dir" serves and takes pushes in the same directory.

It prints each blob deleted (or, with --dry-run, that would be) and the
totals.

Flags:
`

// runGC implements "ocireg gc" and returns the exit code.
func runGC(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), gcUsage)
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "ocireg-data", "the registry's `directory`, as given to ocireg serve --dir")
	var opts ocifs.GCOptions
	fs.BoolVar(&opts.DryRun, "dry-run", false, "only report what would be deleted")
	fs.DurationVar(&opts.GracePeriod, "grace", ocifs.DefaultGCGracePeriod, "keep everything written within this `duration`")
	fs.BoolVar(&opts.DeleteUntagged, "delete-untagged", false, "delete manifests that no tag reaches too (with the blobs only they use)")
	fs.DurationVar(&opts.UploadMaxAge, "upload-max-age", ocifs.DefaultUploadMaxAge, "delete uploads without a write for this `duration`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ocireg gc: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return exitUsage
	}
	if opts.GracePeriod <= 0 || opts.UploadMaxAge <= 0 {
		// ocifs takes zero for its default, which would surprise
		// someone asking for no grace at all.
		fmt.Fprintln(stderr, "ocireg gc: --grace and --upload-max-age must be positive")
		return exitUsage
	}
	if fi, err := os.Stat(*dir); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("%s is not a directory", *dir)
		}
		fmt.Fprintf(stderr, "ocireg gc: %v\n", err)
		return exitFailure
	}
	res, err := ocifs.GC(ctx, *dir, opts)
	if err != nil && len(res.Blobs) == 0 && res.BlobLinks == 0 && res.Manifests == 0 && res.Uploads == 0 {
		// Nothing was done: the error is the whole story.
		fmt.Fprintf(stderr, "ocireg gc: %v\n", err)
		return exitFailure
	}
	verb := "deleted"
	if opts.DryRun {
		verb = "would delete"
	}
	for _, dg := range res.Blobs {
		fmt.Fprintf(stdout, "%s blob %s\n", verb, dg)
	}
	fmt.Fprintf(stdout, "%s %d blobs (%s), %d blob links, %d untagged manifests, %d stale uploads\n",
		verb, len(res.Blobs), formatBytes(res.BytesFreed), res.BlobLinks, res.Manifests, res.Uploads)
	if err != nil {
		fmt.Fprintf(stderr, "ocireg gc: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// formatBytes formats n in bytes, KiB, MiB or GiB.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, suffix := float64(n)/unit, "KiB"
	for _, s := range []string{"MiB", "GiB", "TiB"} {
		if v < unit {
			break
		}
		v, suffix = v/unit, s
	}
	return fmt.Sprintf("%.1f %s", v, suffix)
}
