package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocilayout"
	"github.com/ocireg/ociregistry/ociref"
	"github.com/opencontainers/go-digest"
)

// exitNotFound is the exit code of a client verb whose manifest, blob or
// repository does not exist (see the package comment).
const exitNotFound = 3

// layoutPrefix starts a reference to an OCI image layout directory.
const layoutPrefix = "oci:"

// target is what a client verb reads or writes: a repository in a
// registry, or an OCI image layout directory, and possibly a tag or
// digest in it.
type target struct {
	// name is the reference as it is shown in messages.
	name string
	// host is the registry's host, or "" for a layout.
	host string
	// layout is the layout's directory, or "" for a registry.
	layout string
	repo   string
	tag    string
	digest ociregistry.Digest

	// reg is set by open.
	reg ociregistry.Interface
}

// parseTarget parses a reference: host[:port]/repo[:tag][@digest] (with
// Docker Hub's defaults for a reference without a host) or
// oci:DIR[:tag][@digest]. It returns an error that Is
// ociregistry.ErrNameInvalid, ErrManifestInvalid or ErrDigestInvalid for
// a malformed reference.
func parseTarget(s string) (target, error) {
	if dir, ok := strings.CutPrefix(s, layoutPrefix); ok {
		t := target{name: s}
		if i := strings.LastIndex(dir, "@"); i >= 0 {
			t.digest = ociregistry.Digest(dir[i+1:])
			dir = dir[:i]
			if err := ociregistry.CheckDigest(t.digest); err != nil {
				return target{}, fmt.Errorf("invalid reference %q: %w", s, err)
			}
		}
		// A tag follows the last ":" after the last "/", so that a
		// directory may hold colons in its parents' names.
		if i := strings.LastIndex(dir, ":"); i >= 0 && i > strings.LastIndex(dir, "/") {
			t.tag = dir[i+1:]
			dir = dir[:i]
			if err := ociregistry.CheckTag(t.tag); err != nil {
				return target{}, fmt.Errorf("invalid reference %q: %w", s, err)
			}
		}
		if dir == "" {
			return target{}, fmt.Errorf("invalid reference %q: no directory after %q: %w", s, layoutPrefix, ociregistry.ErrNameInvalid)
		}
		t.layout = dir
		return t, nil
	}
	ref, err := ociref.ParseDocker(s)
	if err != nil {
		return target{}, err
	}
	return target{
		name:   ref.String(),
		host:   ref.RegistryHost(),
		repo:   ref.Repository,
		tag:    ref.Tag,
		digest: ref.Digest,
	}, nil
}

// newClientFlagSet returns the flag set of a client verb, which prints
// usageText and the flags on stderr when asked for help.
func newClientFlagSet(name, usageText string, stderr io.Writer) (*flag.FlagSet, *clientFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	cf := &clientFlags{}
	cf.register(fs)
	return fs, cf
}

// parseArgs parses args with fs, allowing flags after the positional
// arguments too (as in "ocireg cp SRC DST --jobs 8"), and returns the
// positional arguments. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// open connects t to its registry, or opens its layout. A layout that
// does not exist is made when create is set. Credentials come from the
// docker config (see ociauth.Load).
func (t *target) open(cf *clientFlags, create bool) error {
	if t.layout != "" {
		var l *ocilayout.Layout
		var err error
		if create {
			l, err = ocilayout.Create(t.layout)
		} else {
			l, err = ocilayout.Open(t.layout)
		}
		if err != nil {
			return err
		}
		t.reg = l
		return nil
	}
	opts, err := cf.clientOptions(t.host)
	if err != nil {
		return err
	}
	auth, err := ociauth.Load()
	if err != nil {
		return err
	}
	opts.Auth = auth
	reg, err := ociclient.New(t.host, opts)
	if err != nil {
		return err
	}
	t.reg = reg
	return nil
}

// clientOptions returns the options of a client of host: plain HTTP or
// TLS, and the certificates it trusts (see clientFlags.trust). It
// returns an error when a CA or client certificate file cannot be read.
func (cf *clientFlags) clientOptions(host string) (*ociclient.Options, error) {
	trust, err := cf.trust(host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	transport, err := trust.transport()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	return &ociclient.Options{Insecure: trust.PlainHTTP, Transport: transport, UserAgent: "ocireg"}, nil
}

// where names the registry or layout of t, for messages.
func (t *target) where() string {
	if t.layout != "" {
		return layoutPrefix + t.layout
	}
	return t.host
}

// getManifest returns the manifest that t names by digest or by tag
// ("latest" when it names neither), with its descriptor. The digest is
// checked against the content.
func (t *target) getManifest(ctx context.Context) ([]byte, ociregistry.Descriptor, error) {
	var r ociregistry.BlobReader
	var err error
	if t.digest != "" {
		r, err = t.reg.GetManifest(ctx, t.repo, t.digest)
	} else {
		r, err = t.reg.GetTag(ctx, t.repo, t.tagOrLatest())
	}
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	desc := r.Descriptor()
	want := t.digest
	if want == "" {
		want = desc.Digest
	}
	desc.Digest = checkedDigest(want, data)
	if want != "" && desc.Digest != want {
		return nil, ociregistry.Descriptor{}, fmt.Errorf("manifest content has digest %s, not %s: %w", desc.Digest, want, ociregistry.ErrDigestInvalid)
	}
	desc.Size = int64(len(data))
	return data, desc, nil
}

// checkedDigest returns the digest of data with the algorithm of want,
// or sha256 when want is empty or not a valid digest.
func checkedDigest(want ociregistry.Digest, data []byte) ociregistry.Digest {
	if want != "" && ociregistry.IsValidDigest(want) {
		return want.Algorithm().FromBytes(data)
	}
	return digest.FromBytes(data)
}

// tagOrLatest returns t's tag, or "latest" when it has none.
func (t *target) tagOrLatest() string {
	if t.tag == "" {
		return "latest"
	}
	return t.tag
}

// describe returns err as a message a person can act on, prefixed with
// the reference it is about: "127.0.0.1:5000/foo:bar: manifest unknown".
// The result still Is whatever err Is.
func (t *target) describe(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*verbError); ok {
		return err // described already
	}
	msg := err.Error()
	switch {
	case ociregistry.HTTPStatus(err) == http.StatusUnauthorized || errors.Is(err, ociregistry.ErrUnauthorized):
		// Only here did the server ask for credentials. A refusal
		// (403 DENIED) comes with the server's reason, which may have
		// nothing to do with who asked: an immutable tag, a read-only
		// registry, a proxy.
		msg += " (run: ocireg login " + t.host + ")"
	case errors.Is(err, ociregistry.ErrManifestUnknown):
		msg = "manifest unknown"
		if t.tag == "" && t.digest == "" {
			msg += ` (no tag given, so it looked for "latest")`
		}
	case errors.Is(err, ociregistry.ErrBlobUnknown):
		msg = "blob unknown"
	case errors.Is(err, ociregistry.ErrNameUnknown):
		msg = "repository unknown"
	}
	return &verbError{msg: t.name + ": " + msg, err: err}
}

// verbError is an error with a message of its own that still Is the
// error it stands for.
type verbError struct {
	msg string
	err error
}

func (e *verbError) Error() string { return e.msg }
func (e *verbError) Unwrap() error { return e.err }

// verbExitCode prints err (when not nil) as "ocireg: ERR" on stderr and
// returns the exit code for it: exitNotFound when something asked for
// does not exist, exitFailure otherwise.
func verbExitCode(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "ocireg: %v\n", err)
	if errors.Is(err, ociregistry.ErrManifestUnknown) || errors.Is(err, ociregistry.ErrBlobUnknown) || errors.Is(err, ociregistry.ErrNameUnknown) {
		return exitNotFound
	}
	return exitFailure
}

// flagExitCode returns the exit code for an error of flag parsing:
// exitOK for -h, exitUsage otherwise.
func flagExitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	return exitUsage
}

// usageErrorf prints a usage error and returns exitUsage.
func usageErrorf(stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "ocireg: "+format+"\n", args...)
	return exitUsage
}
