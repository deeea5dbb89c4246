package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocicopy"
)

const manifestUsage = `usage: ocireg manifest [flags] REF

Write the manifest that REF (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to on
stdout, byte for byte as the registry holds it. With --platform, an
index's manifest for that platform.

Flags:
`

// runManifest implements "ocireg manifest" and returns the exit code.
func runManifest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pf platformFlag
	t, code := openRefFlags(args, "manifest", manifestUsage, stderr, pf.register)
	if t == nil {
		return code
	}
	data, _, err := t.getManifestFor(ctx, pf.p)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	_, err = stdout.Write(data)
	return verbExitCode(stderr, err)
}

const digestUsage = `usage: ocireg digest [flags] REF

Print the digest of the manifest that REF (HOST[:PORT]/REPO[:TAG][@DIGEST]
or oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to. With
a digest in REF, it checks that the manifest exists. With --platform,
the digest of an index's manifest for that platform.

Flags:
`

// runDigest implements "ocireg digest" and returns the exit code.
func runDigest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pf platformFlag
	t, code := openRefFlags(args, "digest", digestUsage, stderr, pf.register)
	if t == nil {
		return code
	}
	var desc ociregistry.Descriptor
	var err error
	if pf.p != nil {
		_, desc, err = t.getManifestFor(ctx, pf.p)
	} else if t.digest != "" {
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
       ocireg blob [--platform os/arch[/variant]] --layer N REF

Write the blob with the given digest in REPO (HOST[:PORT]/REPO@DIGEST or
oci:DIR@DIGEST) on stdout. The content is checked against the digest;
when it does not match, the command fails after writing it.

With --layer N, REF names an image (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]) and blob writes its layer N: 0 is the base
layer, -1 the top one. For an index, --platform chooses the image. A
blob named by its digest is the same on every platform, so --platform
needs --layer.

Flags:
`

// runBlob implements "ocireg blob" and returns the exit code.
func runBlob(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pf platformFlag
	var layer layerFlag
	t, code := openRefFlags(args, "blob", blobUsage, stderr, func(fs *flag.FlagSet) {
		pf.register(fs)
		fs.Var(&layer, "layer", "write `N`th layer of the image REF names (0 the base, -1 the top)")
	})
	if t == nil {
		return code
	}
	dg := t.digest
	if layer.set {
		m, desc, code := t.image(ctx, pf.p, stderr)
		if m == nil {
			return code
		}
		var err error
		if dg, err = t.layerOf(m, desc, layer.n); err != nil {
			return verbExitCode(stderr, t.describe(err))
		}
	} else if pf.p != nil {
		return usageErrorf(stderr, "--platform chooses an image: give an image REF and --layer N (a blob named by digest is the same on every platform)")
	} else if dg == "" {
		return usageErrorf(stderr, "blob needs a digest (REPO@DIGEST), or an image REF with --layer N")
	}
	r, err := t.reg.GetBlob(ctx, t.repo, dg)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	defer r.Close()
	v := dg.Verifier()
	if _, err := io.Copy(io.MultiWriter(stdout, v), r); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	if !v.Verified() {
		return verbExitCode(stderr, t.describe(fmt.Errorf("content does not match the digest: %w", ociregistry.ErrDigestInvalid)))
	}
	return exitOK
}

// layerFlag is blob's --layer flag: an index into an image's layers,
// negative counting from the top.
type layerFlag struct {
	n   int
	set bool
}

func (f *layerFlag) String() string { return strconv.Itoa(f.n) }

func (f *layerFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("want a whole number, like 0 or -1")
	}
	f.n, f.set = n, true
	return nil
}

// layerOf returns the digest of layer n (negative: from the top) of
// the image m, with descriptor desc, that t names. It returns an error
// wrapping ErrBlobUnknown when the image has no layer n.
func (t *target) layerOf(m *manifestJSON, desc ociregistry.Descriptor, n int) (ociregistry.Digest, error) {
	i := n
	if i < 0 {
		i += len(m.Layers)
	}
	if i < 0 || i >= len(m.Layers) {
		msg := fmt.Sprintf("%s: image %s has %d layers, no layer %d: blob unknown", t.name, desc.Digest, len(m.Layers), n)
		return "", &verbError{msg: msg, err: ociregistry.ErrBlobUnknown}
	}
	return m.Layers[i].Digest, nil
}

// openRef parses the flags and the one reference of a verb, and opens
// it. It returns nil and the exit code when that fails.
func openRef(args []string, name, usageText string, stderr io.Writer) (*target, int) {
	return openRefFlags(args, name, usageText, stderr, nil)
}

// openRefFlags is openRef for a verb with flags of its own, which flags
// adds to the flag set.
func openRefFlags(args []string, name, usageText string, stderr io.Writer, flags func(*flag.FlagSet)) (*target, int) {
	fs, cf := newClientFlagSet(name, usageText, stderr)
	if flags != nil {
		flags(fs)
	}
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

// platformFlag is the --platform flag of the verbs that read one image.
type platformFlag struct {
	p *ocispec.Platform
}

func (f *platformFlag) register(fs *flag.FlagSet) {
	fs.Func("platform", "with an index, use its image for `os/arch[/variant]`", func(s string) error {
		p, err := ocicopy.ParsePlatform(s)
		if err != nil {
			return fmt.Errorf("invalid --platform %q: want os/arch or os/arch/variant", s)
		}
		f.p = p
		return nil
	})
}

// getManifestFor returns t's manifest, or with plat set and t an
// index, the index's manifest for plat.
func (t *target) getManifestFor(ctx context.Context, plat *ocispec.Platform) ([]byte, ociregistry.Descriptor, error) {
	data, desc, err := t.getManifest(ctx)
	if err != nil || plat == nil {
		return data, desc, err
	}
	return t.choosePlatform(ctx, data, desc, plat)
}

// image returns the image manifest t names, or with plat set and t an
// index, the index's image for plat, and its descriptor. When that fails
// it reports why on stderr and returns nil and the exit code: a usage
// error for an index with no platform chosen.
func (t *target) image(ctx context.Context, plat *ocispec.Platform, stderr io.Writer) (*manifestJSON, ociregistry.Descriptor, int) {
	data, desc, err := t.getManifestFor(ctx, plat)
	if err != nil {
		return nil, desc, verbExitCode(stderr, t.describe(err))
	}
	var m manifestJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, desc, verbExitCode(stderr, t.describe(fmt.Errorf("manifest %s is not JSON: %w", desc.Digest, ociregistry.ErrManifestInvalid)))
	}
	if isIndex(cmp.Or(desc.MediaType, m.MediaType)) {
		var have []string
		for _, c := range m.Manifests {
			if p := platformOf(c.Platform); p != "" {
				have = append(have, p)
			}
		}
		return nil, desc, usageErrorf(stderr, "%s is an index: choose an image with --platform (it has: %s)", t.name, strings.Join(have, ", "))
	}
	return &m, desc, exitOK
}

const configUsage = `usage: ocireg config [flags] REF

Write the config of the image that REF (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to on
stdout, checked against its digest. For an index, --platform chooses the
image.

Flags:
`

// runConfig implements "ocireg config" and returns the exit code.
func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pf platformFlag
	t, code := openRefFlags(args, "config", configUsage, stderr, pf.register)
	if t == nil {
		return code
	}
	m, desc, code := t.image(ctx, pf.p, stderr)
	if m == nil {
		return code
	}
	if m.Config == nil {
		return verbExitCode(stderr, t.describe(fmt.Errorf("manifest %s has no config: %w", desc.Digest, ociregistry.ErrManifestInvalid)))
	}
	config, err := t.readConfig(ctx, m.Config.Digest)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	_, err = stdout.Write(config)
	return verbExitCode(stderr, err)
}

const inspectUsage = `usage: ocireg inspect [flags] REF

Describe the manifest that REF (HOST[:PORT]/REPO[:TAG][@DIGEST] or
oci:DIR[:TAG][@DIGEST]; :latest when it names neither) points to: its
digest, media type and size; for an index, the platforms of its images;
for an image, its platform, config and layers with their sizes; its
annotations, its subject, and its referrers by artifact type. --json
prints the same as one JSON object.

Flags:
`

// runInspect implements "ocireg inspect" and returns the exit code.
func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var pf platformFlag
	var asJSON bool
	t, code := openRefFlags(args, "inspect", inspectUsage, stderr, func(fs *flag.FlagSet) {
		pf.register(fs)
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	})
	if t == nil {
		return code
	}
	data, desc, err := t.getManifestFor(ctx, pf.p)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	s, err := t.summarize(ctx, data, desc)
	if err == nil {
		s.Referrers, err = t.referrerGroups(ctx, desc.Digest)
	}
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return verbExitCode(stderr, enc.Encode(s))
	}
	writeSummary(stdout, t.name, s)
	return exitOK
}

// writeSummary prints s as inspect shows it to a person.
func writeSummary(w io.Writer, name string, s *manifestSummary) {
	fmt.Fprintf(w, "%s\n", name)
	fmt.Fprintf(w, "  digest:      %s\n", s.Digest)
	fmt.Fprintf(w, "  media type:  %s\n", s.MediaType)
	if s.ArtifactType != "" {
		fmt.Fprintf(w, "  artifact:    %s\n", s.ArtifactType)
	}
	fmt.Fprintf(w, "  size:        %d\n", s.Size)
	if s.Platform != "" {
		fmt.Fprintf(w, "  platform:    %s\n", s.Platform)
	}
	if s.Subject != "" {
		fmt.Fprintf(w, "  subject:     %s\n", s.Subject)
	}
	if len(s.Manifests) > 0 {
		fmt.Fprintf(w, "  manifests:\n")
		for _, c := range s.Manifests {
			fmt.Fprintf(w, "    %-16s %s %s\n", cmp.Or(c.Platform, "-"), c.Digest, byteSize(c.Size))
		}
	}
	if s.Config != nil {
		fmt.Fprintf(w, "  config:      %s %s (%s)\n", s.Config.Digest, byteSize(s.Config.Size), s.Config.MediaType)
	}
	if len(s.Layers) > 0 {
		fmt.Fprintf(w, "  layers:      %d, %s in all\n", len(s.Layers), byteSize(s.LayersSize))
		for _, l := range s.Layers {
			fmt.Fprintf(w, "    %s %s (%s)\n", l.Digest, byteSize(l.Size), l.MediaType)
		}
	}
	if len(s.Annotations) > 0 {
		fmt.Fprintf(w, "  annotations:\n")
		for _, k := range slices.Sorted(maps.Keys(s.Annotations)) {
			fmt.Fprintf(w, "    %s: %s\n", k, s.Annotations[k])
		}
	}
	if len(s.Referrers) > 0 {
		fmt.Fprintf(w, "  referrers:\n")
		for _, g := range s.Referrers {
			fmt.Fprintf(w, "    %s (%d)\n", cmp.Or(g.ArtifactType, "(no artifact type)"), len(g.Digests))
			for _, d := range g.Digests {
				fmt.Fprintf(w, "      %s\n", d)
			}
		}
	}
}
