package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

const cpUsage = `usage: ocireg cp [flags] SRC DST

Copy an image or an index, with every manifest and blob it refers to, from
SRC to DST. Each is a registry reference (HOST[:PORT]/REPO[:TAG][@DIGEST])
or an OCI image layout directory (oci:DIR[:TAG][@DIGEST]); SRC without a
tag or digest means :latest, and DST without one gets SRC's tag (none when
SRC names a digest). Manifests are copied byte for byte, children first,
so digests do not change. Blobs already at DST are not copied again, and
between repositories of the same registry they are mounted, not copied.

On a terminal a progress line is shown on stderr. The digest of the
manifest copied is printed on stdout.

Flags:
`

// runCp implements "ocireg cp" and returns the exit code.
func runCp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("cp", cpUsage, stderr)
	referrers := fs.Bool("referrers", false, "also copy the referrers of every manifest copied (signatures, SBOMs...), recursively")
	jobs := fs.Int("jobs", 4, "number of blobs copied at once")
	platform := fs.String("platform", "", "copy only the image for `os/arch[/variant]` from an index")
	quiet := fs.Bool("quiet", false, "show no progress, even on a terminal")
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
	var plat *ocispec.Platform
	if *platform != "" {
		if plat, err = parsePlatform(*platform); err != nil {
			return usageErrorf(stderr, "%v", err)
		}
	}
	src, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	dst, err := parseTarget(pos[1])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := src.open(cf, false); err != nil {
		return verbExitCode(stderr, src.describe(err))
	}
	if err := dst.open(cf, true); err != nil {
		return verbExitCode(stderr, dst.describe(err))
	}
	c := &copier{
		src:       &src,
		dst:       &dst,
		jobs:      *jobs,
		referrers: *referrers,
		platform:  plat,
		progress:  newProgress(stderr, *quiet),
		warn:      stderr,
		// Mounting works only within one registry; layouts have
		// nothing to mount from.
		mount: src.host != "" && src.host == dst.host && src.repo != dst.repo,
	}
	desc, err := c.copy(ctx)
	if err != nil {
		return verbExitCode(stderr, err)
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}

// parsePlatform parses os/arch[/variant].
func parsePlatform(s string) (*ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return nil, fmt.Errorf("invalid --platform %q: want os/arch or os/arch/variant", s)
	}
	p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// copier copies one manifest and what it refers to from src to dst.
type copier struct {
	src, dst  *target
	jobs      int
	referrers bool
	platform  *ocispec.Platform
	mount     bool
	progress  *progress
	warn      io.Writer

	// The plan: manifests in the order they are pushed (children
	// before parents, subjects before referrers) and the blobs they
	// need, each once. Manifests and blobs are remembered apart: the
	// same bytes may be both a manifest and a blob (an artifact can
	// carry a manifest as a layer), and each must then be copied as
	// what it is, the manifest pushed and the blob uploaded.
	manifests     []manifestNode
	blobs         []ociregistry.Descriptor
	seenManifests map[ociregistry.Digest]bool
	seenBlobs     map[ociregistry.Digest]bool
}

// manifestNode is a manifest to push, with its exact bytes.
type manifestNode struct {
	desc ociregistry.Descriptor
	data []byte
}

// copy copies the manifest that c.src names, or the image for
// c.platform in it, and returns the descriptor of the manifest copied.
func (c *copier) copy(ctx context.Context) (ociregistry.Descriptor, error) {
	data, desc, err := c.src.getManifest(ctx)
	if err != nil {
		return ociregistry.Descriptor{}, c.src.describe(err)
	}
	if c.platform != nil {
		if data, desc, err = c.selectPlatform(ctx, data, desc); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	if c.dst.digest != "" && c.dst.digest != desc.Digest {
		return ociregistry.Descriptor{}, fmt.Errorf("%s: %s has digest %s, not the one the destination names: %w", c.dst.name, c.src.name, desc.Digest, ociregistry.ErrDigestInvalid)
	}
	c.seenManifests = map[ociregistry.Digest]bool{}
	c.seenBlobs = map[ociregistry.Digest]bool{}
	if err := c.plan(ctx, desc, data); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if c.referrers {
		if err := c.planReferrers(ctx); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	if err := c.copyBlobs(ctx); err != nil {
		return ociregistry.Descriptor{}, err
	}
	tag := c.dst.tag
	if tag == "" && c.dst.digest == "" {
		tag = c.src.tag
		if tag == "" && c.src.digest == "" {
			tag = "latest"
		}
	}
	for _, m := range c.manifests {
		mtag := ""
		if m.desc.Digest == desc.Digest {
			mtag = tag
		}
		got, err := c.dst.reg.PushManifest(ctx, c.dst.repo, mtag, m.data, m.desc.MediaType)
		if err != nil {
			return ociregistry.Descriptor{}, c.dst.describe(fmt.Errorf("pushing manifest %s: %w", m.desc.Digest, err))
		}
		if got.Digest != "" && got.Digest != m.desc.Digest {
			return ociregistry.Descriptor{}, fmt.Errorf("%s: manifest %s was stored with digest %s", c.dst.name, m.desc.Digest, got.Digest)
		}
	}
	return desc, nil
}

// selectPlatform returns the child of the index data for c.platform. A
// manifest that is not an index is returned as it is.
func (c *copier) selectPlatform(ctx context.Context, data []byte, desc ociregistry.Descriptor) ([]byte, ociregistry.Descriptor, error) {
	pm, err := ocimanifest.Parse(data, desc.MediaType)
	if err != nil {
		return nil, ociregistry.Descriptor{}, c.src.describe(err)
	}
	if !isIndex(pm.MediaType) {
		return data, desc, nil
	}
	var have []string
	for _, child := range pm.Children {
		p := child.Platform
		if p == nil {
			continue
		}
		have = append(have, platformString(p))
		if p.OS == c.platform.OS && p.Architecture == c.platform.Architecture && (c.platform.Variant == "" || p.Variant == c.platform.Variant) {
			data, err := c.getChild(ctx, child)
			if err != nil {
				return nil, ociregistry.Descriptor{}, err
			}
			return data, ociregistry.Descriptor{MediaType: child.MediaType, Digest: child.Digest, Size: child.Size}, nil
		}
	}
	return nil, ociregistry.Descriptor{}, &verbError{
		msg: fmt.Sprintf("%s: no image for platform %s (the index has: %s)", c.src.name, platformString(c.platform), strings.Join(have, ", ")),
		err: ociregistry.ErrManifestUnknown,
	}
}

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func platformString(p *ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// plan adds the manifest data, after its children, and its blobs to the
// plan, unless it is there already.
func (c *copier) plan(ctx context.Context, desc ociregistry.Descriptor, data []byte) error {
	if c.seenManifests[desc.Digest] {
		return nil
	}
	c.seenManifests[desc.Digest] = true
	pm, err := ocimanifest.Parse(data, desc.MediaType)
	if err != nil {
		return c.src.describe(fmt.Errorf("manifest %s: %w", desc.Digest, err))
	}
	if desc.MediaType == "" {
		desc.MediaType = pm.MediaType
	}
	for _, child := range pm.Children {
		childData, err := c.getChild(ctx, child)
		if err != nil {
			return err
		}
		if err := c.plan(ctx, child, childData); err != nil {
			return err
		}
	}
	for _, b := range pm.Blobs {
		if !c.seenBlobs[b.Digest] {
			c.seenBlobs[b.Digest] = true
			c.blobs = append(c.blobs, b)
		}
	}
	c.manifests = append(c.manifests, manifestNode{desc: desc, data: data})
	return nil
}

// planReferrers adds the referrers of every manifest in the plan, and
// theirs in turn, after their subjects.
func (c *copier) planReferrers(ctx context.Context) error {
	// c.manifests grows as referrers are planned, so that their
	// referrers are looked for too.
	for i := 0; i < len(c.manifests); i++ {
		subject := c.manifests[i].desc.Digest
		for ref, err := range c.src.reg.Referrers(ctx, c.src.repo, subject, "") {
			if errors.Is(err, ociregistry.ErrUnsupported) {
				fmt.Fprintf(c.warn, "ocireg: warning: %s cannot list referrers; copying none\n", c.src.where())
				return nil
			}
			if err != nil {
				return c.src.describe(fmt.Errorf("listing referrers of %s: %w", subject, err))
			}
			data, err := c.getChild(ctx, ref)
			if err != nil {
				return err
			}
			if err := c.plan(ctx, ociregistry.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size}, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// getChild returns the content of the manifest desc in the source,
// checked against desc's digest.
func (c *copier) getChild(ctx context.Context, desc ociregistry.Descriptor) ([]byte, error) {
	r, err := c.src.reg.GetManifest(ctx, c.src.repo, desc.Digest)
	if err != nil {
		return nil, c.src.describe(fmt.Errorf("manifest %s: %w", desc.Digest, err))
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, c.src.describe(fmt.Errorf("reading manifest %s: %w", desc.Digest, err))
	}
	if got := checkedDigest(desc.Digest, data); got != desc.Digest {
		return nil, fmt.Errorf("%s: manifest %s has content with digest %s: %w", c.src.name, desc.Digest, got, ociregistry.ErrDigestInvalid)
	}
	return data, nil
}

// copyBlobs copies the blobs of the plan, c.jobs at a time.
func (c *copier) copyBlobs(ctx context.Context) error {
	var total int64
	for _, b := range c.blobs {
		total += b.Size
	}
	c.progress.start(len(c.blobs), total)
	defer c.progress.finish()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(c.jobs)
	for _, b := range c.blobs {
		g.Go(func() error { return c.copyBlob(ctx, b) })
	}
	return g.Wait()
}

// copyBlob copies one blob, unless the destination has it already or
// can mount it from the source repository.
func (c *copier) copyBlob(ctx context.Context, desc ociregistry.Descriptor) error {
	if got, err := c.dst.reg.ResolveBlob(ctx, c.dst.repo, desc.Digest); err == nil && got.Size == desc.Size {
		c.progress.blobSkipped(desc.Size, false)
		return nil
	}
	if c.mount {
		if _, err := c.dst.reg.MountBlob(ctx, c.src.repo, c.dst.repo, desc.Digest); err == nil {
			c.progress.blobSkipped(desc.Size, true)
			return nil
		}
		// The registry would not mount it: copy it instead.
	}
	r, err := c.src.reg.GetBlob(ctx, c.src.repo, desc.Digest)
	if err != nil {
		return c.src.describe(fmt.Errorf("blob %s: %w", desc.Digest, err))
	}
	defer r.Close()
	if _, err := c.dst.reg.PushBlob(ctx, c.dst.repo, desc, c.progress.reader(r)); err != nil {
		return c.dst.describe(fmt.Errorf("pushing blob %s: %w", desc.Digest, err))
	}
	c.progress.blobCopied()
	return nil
}
