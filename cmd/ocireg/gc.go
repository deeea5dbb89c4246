package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocis3"
)

const gcUsage = `usage: ocireg gc [flags]

Delete what nothing refers to from the on-disk registry in --dir (or from
the s3 registries of the config file given by --config): blobs
that no manifest reached from a tag (and, without --delete-untagged, from
any manifest) refers to, and uploads abandoned for longer than
--upload-max-age. Nothing written within --grace is deleted, so gc is safe
while "ocireg serve --dir" serves and takes pushes in the same directory
(or while any number of "ocireg serve --config" replicas serve the bucket;
manifests of an s3 registry are never deleted).

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
	config := fs.String("config", "", "collect the s3 registries of this config `file`, as given to ocireg serve --config")
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
	if *config != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["dir"] || set["delete-untagged"] {
			fmt.Fprintln(stderr, "ocireg gc: --config cannot be used with --dir or --delete-untagged")
			return exitUsage
		}
		return gcConfig(ctx, *config, ocis3.GCOptions{GracePeriod: opts.GracePeriod, DryRun: opts.DryRun, UploadMaxAge: opts.UploadMaxAge}, stdout, stderr)
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

// gcConfig collects the garbage of each s3 registry of the config file
// and returns the exit code.
func gcConfig(ctx context.Context, file string, opts ocis3.GCOptions, stdout, stderr io.Writer) int {
	cfg := serveConfig{configFile: file, metrics: newMetrics(), logFormat: "text"}
	if err := loadConfigFile(&cfg, map[string]bool{}); err != nil {
		fmt.Fprintln(stderr, strings.Replace(err.Error(), "ocireg serve: ", "ocireg gc: ", 1))
		return exitUsage
	}
	logger, err := newLogger(stderr, cfg.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "ocireg gc: %v\n", err)
		return exitUsage
	}
	if _, err := cfg.buildRegistry(logger); err != nil {
		fmt.Fprintln(stderr, err)
		return exitUsage
	}
	if len(cfg.s3Stores) == 0 {
		fmt.Fprintf(stderr, "ocireg gc: %s has no registry of kind s3 (collect an fs registry with --dir)\n", file)
		return exitUsage
	}
	verb := "deleted"
	if opts.DryRun {
		verb = "would delete"
	}
	code := exitOK
	for _, r := range cfg.s3Stores {
		res, err := r.GC(ctx, opts)
		for _, dg := range res.Blobs {
			fmt.Fprintf(stdout, "%s blob %s\n", verb, dg)
		}
		fmt.Fprintf(stdout, "%s %d blobs (%s), %d blob links, %d stale uploads\n",
			verb, len(res.Blobs), formatBytes(res.BytesFreed), res.BlobLinks, res.Uploads)
		if err != nil {
			fmt.Fprintf(stderr, "ocireg gc: %v\n", err)
			code = exitFailure
		}
	}
	return code
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
