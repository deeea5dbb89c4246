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
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(pos[0], "https://"), "http://"), "/")
	if host == "" || strings.ContainsAny(host, "/@ ") {
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
	if err := checkLogin(ctx, host, cf.insecure, creds); err != nil {
		return verbExitCode(stderr, err)
	}
	path := ociauth.ConfigPaths()[0]
	if err := saveLogin(path, host, creds); err != nil {
		return verbExitCode(stderr, err)
	}
	fmt.Fprintf(stdout, "logged in to %s; credentials saved in %s\n", host, path)
	return exitOK
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
func checkLogin(ctx context.Context, host string, insecure bool, creds ociauth.Credentials) error {
	base, err := ociclient.BaseURL(host, &ociclient.Options{Insecure: insecure})
	if err != nil {
		return fmt.Errorf("login to %s: %w", host, err)
	}
	client := &http.Client{Transport: ociauth.NewTransport(http.DefaultTransport.(*http.Transport).Clone(), ociauth.StaticCredentials{host: creds})}
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
// path to creds, keeping everything else in the file as it is. The file
// is replaced atomically and has mode 0600, as it holds a password.
func saveLogin(path, host string, creds ociauth.Credentials) error {
	config := map[string]json.RawMessage{}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(data, &config); err != nil {
			return fmt.Errorf("cannot parse %s: %v", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := config["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return fmt.Errorf("cannot parse the auths of %s: %v", path, err)
		}
	}
	entry, _ := json.Marshal(map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(creds.Username + ":" + creds.Password)),
	})
	auths[host] = entry
	if config["auths"], err = json.Marshal(auths); err != nil {
		return err
	}
	return writeDockerConfig(path, config)
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
