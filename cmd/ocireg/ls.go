package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/ocireg/ociregistry"
)

const lsUsage = `usage: ocireg ls [flags] REPO

Print the tags of REPO (HOST[:PORT]/REPO, or oci:DIR for an OCI image
layout), one a line, in lexical order. With -l, each tag's digest, media
type, size and platform (for an image) or platforms (for an index);
with --json, one JSON object a line holding the same.

Flags:
`

// runLs implements "ocireg ls" and returns the exit code.
func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("ls", lsUsage, stderr)
	long := fs.Bool("l", false, "print each tag's digest, media type, size and platforms")
	asJSON := fs.Bool("json", false, "print one JSON object a line: the tag and what -l prints")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "ls needs one repository, got %d arguments (see ocireg ls -h)", len(pos))
	}
	t, err := parseTarget(pos[0])
	if err != nil {
		return usageErrorf(stderr, "%v", err)
	}
	if t.tag != "" || t.digest != "" {
		return usageErrorf(stderr, "ls takes a repository, not a tag or digest: %s", pos[0])
	}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	enc := json.NewEncoder(stdout)
	for tag, err := range t.reg.Tags(ctx, t.repo, "") {
		if err != nil {
			return verbExitCode(stderr, t.describe(err))
		}
		if !*long && !*asJSON {
			fmt.Fprintln(stdout, tag)
			continue
		}
		s, err := t.tagSummary(ctx, tag)
		if err != nil {
			return verbExitCode(stderr, t.describe(err))
		}
		if *asJSON {
			if err := enc.Encode(s); err != nil {
				return verbExitCode(stderr, err)
			}
			continue
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\t%d\t%s\n", tag, s.Digest, s.MediaType, s.Size, cmp.Or(s.Platform, "-"))
	}
	return exitOK
}

// tagSummary returns what ls -l says of tag in t's repository: the
// platform of an image, the platforms of an index joined by commas.
func (t *target) tagSummary(ctx context.Context, tag string) (*manifestSummary, error) {
	c := *t
	c.tag, c.digest = tag, ""
	data, desc, err := c.getManifest(ctx)
	if err != nil {
		return nil, err
	}
	s, err := c.summarize(ctx, data, desc)
	if err != nil {
		return nil, err
	}
	var platforms []string
	for _, m := range s.Manifests {
		if m.Platform != "" {
			platforms = append(platforms, m.Platform)
		}
	}
	if len(platforms) > 0 {
		s.Platform = strings.Join(platforms, ",")
	}
	// A listing says what the tag is, not what the manifest holds.
	s.Tag, s.Config, s.Layers, s.Manifests, s.Annotations = tag, nil, nil, nil, nil
	return s, nil
}

const catalogUsage = `usage: ocireg catalog [flags] HOST[:PORT]

Print the names of the repositories of the registry at HOST, one a line,
in lexical order (with --json, as a JSON array). Not every registry lists
its repositories.

Flags:
`

// runCatalog implements "ocireg catalog" and returns the exit code.
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("catalog", catalogUsage, stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of the names")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "catalog needs one registry host, got %d arguments (see ocireg catalog -h)", len(pos))
	}
	host := strings.TrimSuffix(pos[0], "/")
	if host == "" || strings.ContainsAny(host, "/@") || strings.HasPrefix(host, layoutPrefix) {
		return usageErrorf(stderr, "catalog takes a registry host such as localhost:5000, not %q", pos[0])
	}
	t := target{name: host, host: host}
	if err := t.open(cf, false); err != nil {
		return verbExitCode(stderr, t.describe(err))
	}
	var names []string
	for repo, err := range t.reg.Repositories(ctx, "") {
		if err != nil {
			if ociregistry.HTTPStatus(err) == 404 || ociregistry.HTTPStatus(err) == 405 {
				err = fmt.Errorf("the registry does not list its repositories: %w", err)
			}
			return verbExitCode(stderr, t.describe(err))
		}
		if *asJSON {
			names = append(names, repo)
			continue
		}
		fmt.Fprintln(stdout, repo)
	}
	if *asJSON {
		if names == nil {
			names = []string{}
		}
		return verbExitCode(stderr, json.NewEncoder(stdout).Encode(names))
	}
	return exitOK
}
