package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ocireg/ociregistry"
)

const lsUsage = `usage: ocireg ls [flags] REPO

Print the tags of REPO (HOST[:PORT]/REPO, or oci:DIR for an OCI image
layout), one a line, in lexical order.

Flags:
`

// runLs implements "ocireg ls" and returns the exit code.
func runLs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("ls", lsUsage, stderr)
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
	for tag, err := range t.reg.Tags(ctx, t.repo, "") {
		if err != nil {
			return verbExitCode(stderr, t.describe(err))
		}
		fmt.Fprintln(stdout, tag)
	}
	return exitOK
}

const catalogUsage = `usage: ocireg catalog [flags] HOST[:PORT]

Print the names of the repositories of the registry at HOST, one a line,
in lexical order. Not every registry lists its repositories.

Flags:
`

// runCatalog implements "ocireg catalog" and returns the exit code.
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("catalog", catalogUsage, stderr)
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
	for repo, err := range t.reg.Repositories(ctx, "") {
		if err != nil {
			if ociregistry.HTTPStatus(err) == 404 || ociregistry.HTTPStatus(err) == 405 {
				err = fmt.Errorf("the registry does not list its repositories: %w", err)
			}
			return verbExitCode(stderr, t.describe(err))
		}
		fmt.Fprintln(stdout, repo)
	}
	return exitOK
}
