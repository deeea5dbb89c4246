package ociauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Config holds the credentials of one or more docker or containers
// configuration files. The first file with an entry for a host wins.
type Config struct {
	files []*configFile
}

// configFile is the part of a config.json or auth.json that holds
// credentials.
type configFile struct {
	path        string
	Auths       map[string]authEntry `json:"auths"`
	CredHelpers map[string]string    `json:"credHelpers"`
	CredsStore  string               `json:"credsStore"`
}

type authEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// ConfigPaths returns the paths of the configuration files that Load
// reads, in order, whether or not they exist: $DOCKER_CONFIG/config.json
// (else ~/.docker/config.json), then $REGISTRY_AUTH_FILE, then
// $XDG_RUNTIME_DIR/containers/auth.json.
func ConfigPaths() []string {
	var paths []string
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		paths = append(paths, filepath.Join(dir, "config.json"))
	} else if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".docker", "config.json"))
	}
	if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		paths = append(paths, f)
	}
	if dir := os.Getenv("XDG_RUNTIME_DIR"); dir != "" {
		paths = append(paths, filepath.Join(dir, "containers", "auth.json"))
	}
	return paths
}

// Load reads the configuration that $DOCKER_AUTH_CONFIG holds inline
// (a docker config.json as a JSON string, as CI systems set it), then
// the configuration files that ConfigPaths names, skipping those that do
// not exist; the inline configuration comes first. It returns an error
// when $DOCKER_AUTH_CONFIG or a file that exists cannot be read or
// parsed.
func Load() (*Config, error) {
	c, err := LoadFiles(ConfigPaths()...)
	if err != nil {
		return nil, err
	}
	if inline := os.Getenv("DOCKER_AUTH_CONFIG"); inline != "" {
		f := &configFile{path: "$DOCKER_AUTH_CONFIG"}
		if err := json.Unmarshal([]byte(inline), f); err != nil {
			return nil, fmt.Errorf("ociauth: cannot parse $DOCKER_AUTH_CONFIG: %v", err)
		}
		c.files = append([]*configFile{f}, c.files...)
	}
	return c, nil
}

// LoadFiles reads the given configuration files, skipping those that do
// not exist. It returns an error when a file exists but cannot be read or
// parsed.
func LoadFiles(paths ...string) (*Config, error) {
	c := &Config{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("ociauth: %w", err)
		}
		f := &configFile{path: p}
		if err := json.Unmarshal(data, f); err != nil {
			return nil, fmt.Errorf("ociauth: cannot parse %s: %v", p, err)
		}
		c.files = append(c.files, f)
	}
	return c, nil
}

// Credentials returns the credentials for host from the first file that
// has any: from the credential helper that "credHelpers" names for the
// host, else from the "credsStore" helper, else from the "auths" entry.
// Docker Hub's names (docker.io, index.docker.io, registry-1.docker.io
// and https://index.docker.io/v1/) are taken as one. It returns zero
// Credentials when no file has any, and an error when a helper fails or
// an entry is malformed.
func (c *Config) Credentials(ctx context.Context, host string) (Credentials, error) {
	for _, f := range c.files {
		creds, err := f.credentials(ctx, host)
		if err != nil || !creds.IsZero() {
			return creds, err
		}
	}
	return Credentials{}, nil
}

// dockerHubKey is the key under which docker stores Docker Hub's
// credentials.
const dockerHubKey = "https://index.docker.io/v1/"

func isDockerHub(host string) bool {
	switch host {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// normalizeKey turns a key of "auths" or "credHelpers", which may be a
// URL, into a host.
func normalizeKey(key string) string {
	if key == dockerHubKey {
		return "docker.io"
	}
	key = strings.TrimPrefix(key, "https://")
	key = strings.TrimPrefix(key, "http://")
	host, _, _ := strings.Cut(key, "/")
	if isDockerHub(host) {
		return "docker.io"
	}
	return host
}

func (f *configFile) credentials(ctx context.Context, host string) (Credentials, error) {
	want := host
	if isDockerHub(host) {
		want = "docker.io"
	}
	helperHost := host
	if want == "docker.io" {
		helperHost = dockerHubKey
	}
	for _, key := range sortedKeys(f.CredHelpers) {
		if normalizeKey(key) == want {
			return runHelper(ctx, f.CredHelpers[key], helperHost)
		}
	}
	if f.CredsStore != "" {
		creds, err := runHelper(ctx, f.CredsStore, helperHost)
		if err != nil || !creds.IsZero() {
			return creds, err
		}
	}
	for _, key := range sortedKeys(f.Auths) {
		if normalizeKey(key) != want {
			continue
		}
		e := f.Auths[key]
		creds := Credentials{
			Username:     e.Username,
			Password:     e.Password,
			RefreshToken: e.IdentityToken,
			AccessToken:  e.RegistryToken,
		}
		if e.Auth != "" {
			data, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return Credentials{}, fmt.Errorf("ociauth: %s: bad auth for %s: %v", f.path, key, err)
			}
			user, pass, ok := strings.Cut(string(data), ":")
			if !ok {
				return Credentials{}, fmt.Errorf("ociauth: %s: auth for %s is not user:password", f.path, key)
			}
			creds.Username, creds.Password = user, pass
		}
		if !creds.IsZero() {
			return creds, nil
		}
	}
	return Credentials{}, nil
}

// sortedKeys returns the keys of m, the bare host names first, so that
// the same entry wins every time when several keys name one host.
func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if ua, ub := strings.Contains(a, "://"), strings.Contains(b, "://"); ua != ub {
			if ua {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	return keys
}
