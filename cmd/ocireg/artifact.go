package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultArtifactType is the artifact type of "ocireg push" without
// --artifact-type, the one oras gives.
const defaultArtifactType = "application/vnd.unknown.artifact.v1"

// defaultLayerType is the media type of a file pushed without one.
const defaultLayerType = "application/vnd.oci.image.layer.v1.tar"

const pushUsage = `usage: ocireg push [flags] REF [FILE[:MEDIATYPE]...]

Push FILEs as an artifact, as oras does: an OCI image manifest whose
artifactType is --artifact-type, whose config is the empty JSON object {}
(application/vnd.oci.empty.v1+json) and whose layers are the files, each
with the media type after its name (application/vnd.oci.image.layer.v1.tar
when there is none) and its base name as the org.opencontainers.image.title
annotation, which "ocireg pull" and "oras pull" use to write it back. REF
(HOST[:PORT]/REPO[:TAG] or oci:DIR[:TAG]) gets the tag, latest when it
names none. The digest of the manifest is printed.

Exit codes: 0 pushed; 1 failed; 2 bad command line or unreadable FILE.

Flags:
`

const attachUsage = `usage: ocireg attach [flags] REF FILE[:MEDIATYPE]... --artifact-type TYPE

Push FILEs as an artifact (as "ocireg push" does) whose subject is the
manifest REF names, so that it is one of REF's referrers (a signature, an
SBOM, an attestation), as oras attach does. The artifact is untagged; a
registry without the referrers API gets the referrers tag
(sha256-<hex>) too. The artifact's digest is printed.

Exit codes: 0 attached; 1 failed; 2 bad command line or unreadable FILE;
3 REF does not exist.

Flags:
`

// annotationFlag collects --annotation key=value flags.
type annotationFlag map[string]string

func (a annotationFlag) String() string { return "" }

func (a annotationFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, not %q", s)
	}
	a[k] = v
	return nil
}

// artifactFlags are the flags of push and attach.
type artifactFlags struct {
	artifactType string
	annotations  annotationFlag
}

func addArtifactFlags(fs *flag.FlagSet, defaultType string) *artifactFlags {
	af := &artifactFlags{annotations: annotationFlag{}}
	fs.StringVar(&af.artifactType, "artifact-type", defaultType, "the artifact's `type`")
	fs.Var(af.annotations, "annotation", "a manifest annotation `key=value` (repeatable)")
	return af
}

// runPush implements "ocireg push" and returns the exit code.
func runPush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("push", pushUsage, stderr)
	af := addArtifactFlags(fs, defaultArtifactType)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) < 1 {
		return usageErrorf(stderr, "push needs REF and the files to push (see ocireg push -h)")
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if t.digest != "" {
		return usageErrorf(stderr, "push takes a tag, not a digest: %s", pos[0])
	}
	if af.artifactType == "" {
		return usageErrorf(stderr, "--artifact-type must not be empty")
	}
	files, err := parseArtifactFiles(pos[1:])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, true); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	desc, err := pushArtifact(ctx, &t, t.tagOrLatest(), files, af, nil)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}

// runAttach implements "ocireg attach" and returns the exit code.
func runAttach(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("attach", attachUsage, stderr)
	af := addArtifactFlags(fs, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) < 2 {
		return usageErrorf(stderr, "attach needs REF and the files to attach (see ocireg attach -h)")
	}
	if af.artifactType == "" {
		return usageErrorf(stderr, "attach needs --artifact-type")
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	files, err := parseArtifactFiles(pos[1:])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	_, subject, err := t.getManifest(ctx)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	desc, err := pushArtifact(ctx, &t, "", files, af, &subject)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	fmt.Fprintln(stdout, desc.Digest)
	return exitOK
}

// artifactFile is a file to push as a layer.
type artifactFile struct {
	path, mediaType string
}

// parseArtifactFiles parses FILE[:MEDIATYPE] arguments. A colon starts a
// media type only when what follows has a "/", so that paths may hold
// colons. It returns an error for a file that cannot be read.
func parseArtifactFiles(args []string) ([]artifactFile, error) {
	var files []artifactFile
	for _, arg := range args {
		f := artifactFile{path: arg, mediaType: defaultLayerType}
		if i := strings.LastIndex(arg, ":"); i > 0 && strings.Contains(arg[i+1:], "/") {
			f.path, f.mediaType = arg[:i], arg[i+1:]
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", f.path)
		}
		files = append(files, f)
	}
	return files, nil
}

// pushArtifact pushes files and an artifact manifest for them to t's
// repository, tagged with tag unless it is empty, with subject as its
// subject unless it is nil.
func pushArtifact(ctx context.Context, t *target, tag string, files []artifactFile, af *artifactFlags, subject *ociregistry.Descriptor) (ociregistry.Descriptor, error) {
	empty := ocispec.DescriptorEmptyJSON
	if _, err := t.reg.PushBlob(ctx, t.repo, empty, bytes.NewReader(empty.Data)); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("pushing the empty config: %w", err)
	}
	empty.Data = nil
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: af.artifactType,
		Config:       empty,
		Layers:       []ocispec.Descriptor{},
		Subject:      subject,
	}
	if len(af.annotations) > 0 {
		m.Annotations = af.annotations
	}
	for _, f := range files {
		desc, err := pushFile(ctx, t, f)
		if err != nil {
			return ociregistry.Descriptor{}, err
		}
		m.Layers = append(m.Layers, desc)
	}
	if len(m.Layers) == 0 {
		// The image spec's advice for an artifact without content.
		m.Layers = append(m.Layers, empty)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	desc, err := t.reg.PushManifest(ctx, t.repo, tag, data, ocispec.MediaTypeImageManifest)
	if err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("pushing the manifest: %w", err)
	}
	desc.Digest = digest.FromBytes(data)
	return desc, nil
}

// pushFile pushes the content of f as a blob and returns its descriptor,
// titled with its base name.
func pushFile(ctx context.Context, t *target, f artifactFile) (ociregistry.Descriptor, error) {
	file, err := os.Open(f.path)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	defer file.Close()
	digester := digest.SHA256.Digester()
	size, err := io.Copy(digester.Hash(), file)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return ociregistry.Descriptor{}, err
	}
	desc := ociregistry.Descriptor{
		MediaType:   f.mediaType,
		Digest:      digester.Digest(),
		Size:        size,
		Annotations: map[string]string{ocispec.AnnotationTitle: filepath.Base(f.path)},
	}
	if _, err := t.reg.PushBlob(ctx, t.repo, desc, file); err != nil {
		return ociregistry.Descriptor{}, fmt.Errorf("pushing %s: %w", f.path, err)
	}
	return desc, nil
}
