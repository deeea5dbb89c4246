package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ocireg/ociregistry"
)

const referrersUsage = `usage: ocireg referrers [flags] REF

Print the referrers of the manifest REF names (signatures, SBOMs,
attestations: manifests whose subject it is), and theirs in turn, as a
tree: REF's digest, then one referrer a line, indented by its depth, with
its artifact type. With --json, one JSON object: the manifest's digest and
media type, and "referrers", each with its digest, mediaType, artifactType,
size, annotations and own "referrers". Registries without the referrers
API are read through the referrers tag (sha256-<hex>).

Exit codes: 0 listed (none is not an error); 1 failed; 2 bad command
line; 3 REF does not exist.

Flags:
`

// maxReferrersDepth bounds the tree: a registry could answer referrers
// that refer back to each other forever.
const maxReferrersDepth = 16

// referrerNode is one manifest of the tree, in --json's form.
type referrerNode struct {
	Digest       ociregistry.Digest `json:"digest"`
	MediaType    string             `json:"mediaType"`
	ArtifactType string             `json:"artifactType,omitempty"`
	Size         int64              `json:"size,omitempty"`
	Annotations  map[string]string  `json:"annotations,omitempty"`
	Referrers    []*referrerNode    `json:"referrers"`
}

// runReferrers implements "ocireg referrers" and returns the exit code.
func runReferrers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("referrers", referrersUsage, stderr)
	artifactType := fs.String("artifact-type", "", "list only referrers of this `type` (at every depth)")
	asJSON := fs.Bool("json", false, "print JSON instead of a tree")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "referrers needs one reference, got %d arguments (see ocireg referrers -h)", len(pos))
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	_, desc, err := t.getManifest(ctx)
	if err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	root := &referrerNode{Digest: desc.Digest, MediaType: desc.MediaType}
	seen := map[ociregistry.Digest]bool{desc.Digest: true}
	if err := listReferrers(ctx, &t, root, *artifactType, seen, 1); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	if *asJSON {
		data, err := json.MarshalIndent(root, "", "  ")
		if err != nil {
			return verbExitCode(stderr, err)
		}
		fmt.Fprintf(stdout, "%s\n", data)
		return exitOK
	}
	fmt.Fprintf(stdout, "%s@%s\n", strings.TrimSuffix(t.name, "@"+string(desc.Digest)), desc.Digest)
	printReferrers(stdout, root.Referrers, 1)
	return exitOK
}

// listReferrers fills n's referrers, and theirs, depth levels deep so far.
// A referrer already in the tree is listed but not walked again.
func listReferrers(ctx context.Context, t *target, n *referrerNode, artifactType string, seen map[ociregistry.Digest]bool, depth int) error {
	n.Referrers = []*referrerNode{}
	for desc, err := range t.reg.Referrers(ctx, t.repo, n.Digest, artifactType) {
		if err != nil {
			return fmt.Errorf("listing the referrers of %s: %w", n.Digest, err)
		}
		child := &referrerNode{
			Digest:       desc.Digest,
			MediaType:    desc.MediaType,
			ArtifactType: desc.ArtifactType,
			Size:         desc.Size,
			Annotations:  desc.Annotations,
		}
		n.Referrers = append(n.Referrers, child)
		if seen[desc.Digest] || depth >= maxReferrersDepth {
			continue
		}
		seen[desc.Digest] = true
		if err := listReferrers(ctx, t, child, artifactType, seen, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// printReferrers prints nodes as lines of the tree, indented by depth.
func printReferrers(w io.Writer, nodes []*referrerNode, depth int) {
	for _, n := range nodes {
		artifactType := n.ArtifactType
		if artifactType == "" {
			artifactType = "-"
		}
		fmt.Fprintf(w, "%s%s %s\n", strings.Repeat("  ", depth), n.Digest, artifactType)
		printReferrers(w, n.Referrers, depth+1)
	}
}
