package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/ocireg/ociregistry/ociauth"
)

const logoutUsage = `usage: ocireg logout [flags] HOST[:PORT]

Remove the credentials for HOST from the docker config
($DOCKER_CONFIG/config.json, else ~/.docker/config.json): its "auths"
entry, and, when "credHelpers" or "credsStore" names a credential helper
for HOST, what that helper holds (docker-credential-NAME erase). Other
entries are kept.

Exit codes: 0 removed, or there was nothing to remove (said on stderr);
1 the config or the helper failed; 2 bad command line.

Flags:
`

// runLogout implements "ocireg logout" and returns the exit code.
func runLogout(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, _ := newClientFlagSet("logout", logoutUsage, stderr)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return flagExitCode(err)
	}
	if len(pos) != 1 {
		return usageErrorf(stderr, "logout needs one registry host, got %d arguments (see ocireg logout -h)", len(pos))
	}
	host, ok := registryHost(pos[0])
	if !ok {
		return usageErrorf(stderr, "logout takes a registry host such as localhost:5000, not %q", pos[0])
	}
	path := ociauth.ConfigPaths()[0]
	removed, err := removeLogin(ctx, path, host)
	if err != nil {
		return verbExitCode(stderr, fmt.Errorf("logout from %s: %w", host, err))
	}
	if !removed {
		fmt.Fprintf(stderr, "ocireg: not logged in to %s (nothing in %s)\n", host, path)
		return exitOK
	}
	fmt.Fprintf(stdout, "removed the credentials for %s from %s\n", host, path)
	return exitOK
}

// configHost returns the host that a key of the docker config's "auths"
// names: keys may be URLs ("https://index.docker.io/v1/").
func configHost(key string) string {
	key = strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	host, _, _ := strings.Cut(key, "/")
	return host
}

// removeLogin removes what the docker config at path holds for host and
// reports whether there was anything.
func removeLogin(ctx context.Context, path, host string) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	config := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &config); err != nil {
		return false, fmt.Errorf("cannot parse %s: %v", path, err)
	}
	var parsed struct {
		Auths       map[string]json.RawMessage `json:"auths"`
		CredHelpers map[string]string          `json:"credHelpers"`
		CredsStore  string                     `json:"credsStore"`
	}
	if err := json.Unmarshal(data, &parsed); err != nil {
		return false, fmt.Errorf("cannot parse %s: %v", path, err)
	}
	removed := false
	helper := parsed.CredsStore
	for key, name := range parsed.CredHelpers {
		if configHost(key) == host {
			helper = name
		}
	}
	if helper != "" {
		found, err := eraseHelper(ctx, helper, host)
		if err != nil {
			return false, err
		}
		removed = removed || found
	}
	changed := false
	for key := range parsed.Auths {
		if configHost(key) == host {
			delete(parsed.Auths, key)
			changed = true
		}
	}
	if !changed {
		return removed, nil
	}
	if config["auths"], err = json.Marshal(parsed.Auths); err != nil {
		return false, err
	}
	return true, writeDockerConfig(path, config)
}

// eraseHelper asks the credential helper docker-credential-NAME to
// forget host, and reports whether it held credentials for it.
func eraseHelper(ctx context.Context, name, host string) (bool, error) {
	err := ociauth.EraseCredentials(ctx, name, host)
	// The helper protocol's answer for a host it does not hold.
	if err != nil && strings.Contains(err.Error(), "credentials not found") {
		return false, nil
	}
	return err == nil, err
}
