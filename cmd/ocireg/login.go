package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
)

const loginUsage = `usage: ocireg login [flags] HOST[:PORT] -u USER --password-stdin

Check USER's password (read from stdin) with the registry at HOST, by
Basic authentication or the token flow, and save it in the docker config
($DOCKER_CONFIG/config.json, else ~/.docker/config.json) for ocireg,
docker, crane and the rest to use. Other entries of the file are kept; the
file is written with mode 0600. Nothing is saved when the registry turns
the credentials down.

Flags:
`

// runLogin implements "ocireg login" and returns the exit code. The
// password is read from stdin.
func runLogin(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs, cf := newClientFlagSet("login", loginUsage, stderr)
	user := fs.String("u", "", "the user `name`")
	fs.StringVar(user, "username", "", "the user `name` (same as -u)")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from stdin (required: passwords on the command line leak)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "login needs one registry host, got %d arguments (see ocireg login -h)", len(pos))
	}
	host, ok := registryHost(pos[0])
	if !ok {
		return usageErrorf(stderr, "login takes a registry host such as localhost:5000, not %q", pos[0])
	}
	if *user == "" {
		return usageErrorf(stderr, "login needs a user name: -u USER")
	}
	if !*passwordStdin {
		return usageErrorf(stderr, "login needs --password-stdin, with the password on stdin")
	}
	password, err := readPassword(stdin)
	if err != nil {
		return verbExitCode(stderr, fmt.Errorf("reading the password from stdin: %w", err))
	}
	if password == "" {
		return usageErrorf(stderr, "empty password on stdin")
	}
	creds := ociauth.Credentials{Username: *user, Password: password}
	opts, err := cf.clientOptions(host)
	if err != nil {
		return verbExitCode(stderr, err)
	}
	if err := checkLogin(ctx, host, opts, creds); err != nil {
		return verbExitCode(stderr, err)
	}
	path := ociauth.ConfigPaths()[0]
	config, err := readDockerConfig(path)
	if err != nil {
		return verbExitCode(stderr, err)
	}
	if helper := config.helper(host); helper != "" {
		if err := ociauth.StoreCredentials(ctx, helper, host, creds); err != nil {
			return verbExitCode(stderr, err)
		}
		fmt.Fprintf(stdout, "logged in to %s; credentials saved with docker-credential-%s\n", host, helper)
		return exitOK
	}
	if err := saveLogin(path, host, creds); err != nil {
		return verbExitCode(stderr, err)
	}
	fmt.Fprintf(stdout, "logged in to %s; credentials saved in %s\n", host, path)
	return exitOK
}

// registryHost returns the host that arg names (a scheme and a trailing
// slash are allowed), and whether arg is a host at all.
func registryHost(arg string) (string, bool) {
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(arg, "https://"), "http://"), "/")
	return host, host != "" && !strings.ContainsAny(host, "/@ ")
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// checkLogin asks the registry's /v2/ with creds, through the same
// transport that every other verb uses, so that a login that succeeds
// here works for them. It returns an error saying so when the registry
// turns the credentials down.
func checkLogin(ctx context.Context, host string, opts *ociclient.Options, creds ociauth.Credentials) error {
	base, err := ociclient.BaseURL(host, opts)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	client := &http.Client{Transport: ociauth.NewTransport(opts.Transport, ociauth.StaticCredentials{host: creds})}
	req, err := http.NewRequestWithContext(ctx, "GET", base.String()+"/v2/", nil)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("login to %s failed: the registry turned down the user name or password (%s)", host, resp.Status)
	}
	return fmt.Errorf("login to %s failed: /v2/ answered %s; is it an OCI registry?", host, resp.Status)
}

// saveLogin sets the "auths" entry of host in the docker config file at
// path to creds, keeping everything else in the file as it is.
func saveLogin(path, host string, creds ociauth.Credentials) error {
	c, err := readDockerConfig(path)
	if err != nil {
		return err
	}
	c.auths[host], _ = json.Marshal(map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(creds.Username + ":" + creds.Password)),
	})
	return c.write()
}

// dockerConfig is a docker config file, read to change its "auths"
// and keep every other field as it is.
type dockerConfig struct {
	path   string
	fields map[string]json.RawMessage
	auths  map[string]json.RawMessage
}

// readDockerConfig reads the docker config file at path; a file that
// does not exist is an empty config. It returns an error when the file
// cannot be read or parsed.
func readDockerConfig(path string) (*dockerConfig, error) {
	c := &dockerConfig{path: path, fields: map[string]json.RawMessage{}, auths: map[string]json.RawMessage{}}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &c.fields); err != nil {
			return nil, fmt.Errorf("cannot parse %s: %v", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	if raw, ok := c.fields["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c.auths); err != nil {
			return nil, fmt.Errorf("cannot parse the auths of %s: %v", path, err)
		}
	}
	return c, nil
}

// helper returns the credential helper the config names for host: its
// credHelpers entry, else the credsStore; "" when there is none.
func (c *dockerConfig) helper(host string) string {
	var helpers map[string]string
	var store string
	json.Unmarshal(c.fields["credHelpers"], &helpers)
	json.Unmarshal(c.fields["credsStore"], &store)
	if h := helpers[host]; h != "" {
		return h
	}
	return store
}

// write replaces the config file with c (see writeDockerConfig).
func (c *dockerConfig) write() error {
	var err error
	if c.fields["auths"], err = json.Marshal(c.auths); err != nil {
		return err
	}
	return writeDockerConfig(c.path, c.fields)
}

// writeDockerConfig replaces the docker config file at path with config,
// atomically, with mode 0600 as it may hold passwords.
func writeDockerConfig(path string, config map[string]json.RawMessage) error {
	out, err := json.MarshalIndent(config, "", "\t")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".config-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	_, err = f.Write(append(out, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
