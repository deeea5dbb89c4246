package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const pullUsage = `usage: ocireg pull [flags] REF

Write the files of the artifact REF names (HOST[:PORT]/REPO[:TAG][@DIGEST]
or oci:DIR[:TAG][@DIGEST]) into the directory -o, as oras pull does: each
layer with an org.opencontainers.image.title annotation is written to the
file of that name, checked against its digest and size (through a
temporary file, so that a failed pull leaves no partial file). Layers
without a title are skipped, and titles that would leave the directory
(absolute, or with "..") are refused. The path of each file written is
printed.

Exit codes: 0 pulled; 1 failed (a bad title, a blob with other content);
2 bad command line; 3 REF or one of its blobs does not exist.

Flags:
`

// runPull implements "ocireg pull" and returns the exit code.
func runPull(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("pull", pullUsage, stderr)
	dir := fs.String("o", ".", "the `directory` to write the files in (made if missing)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "pull needs one reference, got %d arguments (see ocireg pull -h)", len(pos))
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	data, desc, err := t.getManifest(ctx)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return verbExitCode(stderr, fmt.Errorf("%s: a %s is not an artifact to pull: want %s", t.name, desc.MediaType, ocispec.MediaTypeImageManifest))
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return verbExitCode(stderr, fmt.Errorf("%s: cannot parse the manifest: %v", t.name, err))
	}
	// Every title is checked before anything is written.
	for _, l := range m.Layers {
		if title := l.Annotations[ocispec.AnnotationTitle]; title != "" && !filepath.IsLocal(title) {
			return verbExitCode(stderr, fmt.Errorf("%s: layer %s has title %q, which is not a file name within the output directory; refusing to write it", t.name, l.Digest, title))
		}
	}
	if err := os.MkdirAll(*dir, 0o777); err != nil {
		return verbExitCode(stderr, err)
	}
	for _, l := range m.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		if title == "" {
			if l.Digest != ocispec.DescriptorEmptyJSON.Digest {
				fmt.Fprintf(stderr, "ocireg: %s: skipping layer %s, which has no title\n", t.name, l.Digest)
			}
			continue
		}
		path := filepath.Join(*dir, title)
		if err := pullBlob(ctx, &t, l, path); err != nil {
			return verbExitCode(stderr, t.describe(err))
		}
		fmt.Fprintln(stdout, path)
	}
	return exitOK
}

// pullBlob writes the blob desc to path, through a temporary file that is
// renamed into place only when the content has desc's digest and size.
func pullBlob(ctx context.Context, t *target, desc ociregistry.Descriptor, path string) error {
	if err := ociregistry.CheckDigest(desc.Digest); err != nil {
		return err
	}
	r, err := t.reg.GetBlob(ctx, t.repo, desc.Digest)
	if err != nil {
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".ocireg-pull-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	v := desc.Digest.Verifier()
	// One byte more than the size, to notice content that is too long
	// without reading all of it.
	n, err := io.Copy(io.MultiWriter(f, v), io.LimitReader(r, desc.Size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil:
		return fmt.Errorf("blob %s: %w", desc.Digest, err)
	case n != desc.Size:
		return fmt.Errorf("blob %s: content size is not the %d bytes its descriptor says: %w", desc.Digest, desc.Size, ociregistry.ErrSizeInvalid)
	case !v.Verified():
		return fmt.Errorf("blob %s: content does not match the digest: %w", desc.Digest, ociregistry.ErrDigestInvalid)
	}
	// CreateTemp makes the file private; a pulled file is as any other.
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
