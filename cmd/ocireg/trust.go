package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"
)

// clientFlags are the flags that every client verb has: how to reach
// the registry and which certificates to trust, named as oras and
// regctl name them.
type clientFlags struct {
	plainHTTP bool
	insecure  bool
	caFiles   stringList
}

// stringList is a flag that may be given more than once.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func (cf *clientFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&cf.plainHTTP, "plain-http", false, "talk plain HTTP to the registry (done for localhost and 127.0.0.1 unless they serve TLS)")
	fs.BoolVar(&cf.insecure, "insecure", false, "use TLS without verifying the registry's certificate")
	fs.Var(&cf.caFiles, "ca-file", "trust the CA certificates (PEM) in this `file` too; may be repeated")
}

// hostTrust is how to reach one registry host: from the flags, the
// host's entry in hosts.yaml, and its certs.d directories.
type hostTrust struct {
	PlainHTTP bool     `yaml:"plainHTTP"`
	Insecure  bool     `yaml:"insecure"`
	CAFiles   []string `yaml:"caFiles"`
	// CertFile and KeyFile are a client certificate for registries
	// that ask for one (mutual TLS).
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
}

// hostsFile is the format of hosts.yaml.
type hostsFile struct {
	Hosts map[string]hostTrust `yaml:"hosts"`
}

// hostsPath returns the path of the per-host settings file:
// $OCIREG_HOSTS, else hosts.yaml in ocireg's user config directory
// (~/.config/ocireg/hosts.yaml).
func hostsPath() string {
	if p := os.Getenv("OCIREG_HOSTS"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ocireg", "hosts.yaml")
}

// loadHostTrust returns the entry of host in the hosts file, if the file
// exists; relative paths in it are taken from the file's directory. It
// returns an error when the file cannot be read or parsed.
func loadHostTrust(host string) (hostTrust, error) {
	path := hostsPath()
	if path == "" {
		return hostTrust{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return hostTrust{}, nil
	}
	if err != nil {
		return hostTrust{}, err
	}
	var f hostsFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return hostTrust{}, fmt.Errorf("%s: %v", path, err)
	}
	t := f.Hosts[host]
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	for i, p := range t.CAFiles {
		t.CAFiles[i] = abs(p)
	}
	t.CertFile, t.KeyFile = abs(t.CertFile), abs(t.KeyFile)
	return t, nil
}

// certsDirs returns the certs.d directories that docker and podman
// keep per-host certificates in, in the order they are searched.
func certsDirs() []string {
	dirs := []string{"/etc/containers/certs.d", "/etc/docker/certs.d"}
	if dir, err := os.UserConfigDir(); err == nil {
		dirs = append([]string{filepath.Join(dir, "containers", "certs.d")}, dirs...)
	}
	return dirs
}

// addCertsDir adds what the certs.d directory of host holds to t, as
// docker does: every *.crt is a CA certificate, and a *.cert with the
// *.key of the same name is a client certificate.
func (t *hostTrust) addCertsDir(dir, host string) error {
	entries, err := os.ReadDir(filepath.Join(dir, host))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := filepath.Join(dir, host, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			t.CAFiles = append(t.CAFiles, name)
		case strings.HasSuffix(e.Name(), ".cert") && t.CertFile == "":
			key := strings.TrimSuffix(name, ".cert") + ".key"
			if _, err := os.Stat(key); err != nil {
				return fmt.Errorf("client certificate %s has no key %s", name, key)
			}
			t.CertFile, t.KeyFile = name, key
		}
	}
	return nil
}

// trust returns how to reach host: the flags, then host's entry in
// hosts.yaml, then its certs.d directories, each adding to the last.
func (cf *clientFlags) trust(host string) (hostTrust, error) {
	t, err := loadHostTrust(host)
	if err != nil {
		return hostTrust{}, err
	}
	t.PlainHTTP = t.PlainHTTP || cf.plainHTTP
	t.Insecure = t.Insecure || cf.insecure
	t.CAFiles = append(slices.Clone([]string(cf.caFiles)), t.CAFiles...)
	for _, dir := range certsDirs() {
		if err := t.addCertsDir(dir, host); err != nil {
			return hostTrust{}, err
		}
	}
	return t, nil
}

// transport returns an HTTP transport that trusts what t says: the
// system's CAs and t's, or any certificate when t is insecure.
func (t hostTrust) transport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if !t.Insecure && len(t.CAFiles) == 0 && t.CertFile == "" {
		return tr, nil
	}
	cfg := &tls.Config{InsecureSkipVerify: t.Insecure}
	if len(t.CAFiles) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		for _, f := range t.CAFiles {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("reading a CA file: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA file %s holds no PEM certificate", f)
			}
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}
