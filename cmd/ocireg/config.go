package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociauth"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ociproxy"
	"github.com/ocireg/ociregistry/ocis3"
	"github.com/ocireg/ociregistry/ociunify"
)

// The config file (see README.md, "Config file") is YAML:
//
//	addr: 127.0.0.1:5000          # --addr
//	logFormat: json               # --log-format
//	tls: {cert: FILE, key: FILE}  # --tls-cert, --tls-key
//	htpasswd: FILE                # --htpasswd
//	access:                       # who may do what; needs htpasswd
//	  - users: [alice]            # "*" is every user in the htpasswd file
//	    repositories: ["**"]      # see matchRepo
//	    allow: [pull, push, delete]
//	token:                        # bearer tokens (docker's token protocol); needs htpasswd
//	  key: FILE                   # PEM private key (EC, Ed25519, RSA); default: made at start
//	  issuer: ocireg              # the tokens' iss
//	  service: ocireg             # the tokens' aud, and the challenge's service
//	  realm: URL                  # default: /token on the address the client used
//	  expiry: 5m
//	events:                       # changes told to endpoints (see outbox.go)
//	  dir: DIR
//	  maxPending: 100000
//	  endpoints: [{name: N, url: URL, format: distribution|cloudevents, headers: {K: V}, timeout: 10s}]
//	anonymousMount: false         # --no-anonymous-mount
//	limits:                       # each also a flag, which overrides it
//	  headerBytes: 64KiB          # --max-header-bytes
//	  headerTimeout: 10s          # --header-timeout
//	  readTimeout: 1m             # --read-timeout
//	  writeTimeout: 1m            # --write-timeout
//	  idleTimeout: 2m             # --idle-timeout
//	  uploadTimeout: 1h           # --upload-timeout
//	  uploads: 1000               # --max-uploads
//	  memUploadBytes: 2GiB        # --mem-max-upload-bytes
//	registry: REGISTRY
//
// where a REGISTRY is a mapping with a kind and the fields of that kind:
//
//	{kind: mem, laxReferences: BOOL}
//	{kind: fs, dir: DIR, laxReferences: BOOL}
//	{kind: s3, bucket: B, prefix: P, endpoint: URL, region: R, pathStyle: BOOL, redirect: BOOL}
//	{kind: remote, url: URL, insecure: BOOL, username: U, password: P, responseTimeout: DURATION}
//	{kind: proxy, upstream: REGISTRY, cache: REGISTRY, tagTTL: DURATION, stallTimeout: DURATION}
//	{kind: unify, registries: [REGISTRY, REGISTRY]}
//	{kind: readonly, registry: REGISTRY}
//	{kind: immutable, registry: REGISTRY}
//	{kind: select, registry: REGISTRY, repositories: [PATTERN...]}
//	{kind: sub, registry: REGISTRY, prefix: PREFIX}
//
// laxReferences (as --lax-references) accepts manifests whose blobs are
// not there (yet); a proxy's cache always does. stallTimeout is
// ociproxy's FillStallTimeout. Relative paths (dir, htpasswd, tls cert
// and key) are relative to the config file's directory.
//
// The file is decoded into yaml.Node values rather than structs, so that
// every error can name the line and column it is about.
//
// Loading is in two steps: parsing checks the whole file and returns a
// registryBuilder for each registry, and the builders run only once no
// mistake was found, so that a config with mistakes makes no directories
// and opens nothing.

// configError is a mistake in the config file, at a place in it.
type configError struct {
	file         string
	line, column int
	msg          string
}

func (e *configError) Error() string {
	// A message holds a value from the file, such as a path, that may
	// hold a newline; each mistake stays on a line of its own.
	return fmt.Sprintf("%s:%d:%d: %s", e.file, e.line, e.column, strings.ReplaceAll(e.msg, "\n", `\n`))
}

// configErrors is every mistake found in a config file, one a line.
type configErrors []*configError

func (es configErrors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// configParser decodes a config file and builds what it describes,
// collecting its mistakes.
type configParser struct {
	file string
	errs configErrors
	m    *metrics
	// cfg is the server's settings, final (with the flags that
	// override the file) by the time the builders run.
	cfg *serveConfig
	// logger is what the proxies and remote clients built log to; it
	// is set only for building, as the config may choose the log
	// format.
	logger *slog.Logger
	// s3Stores are the s3 registries built, for ocireg gc.
	s3Stores []*ocis3.Registry
	// ruleUsers are the user names of the access rules, with their
	// places, to check against the htpasswd file.
	ruleUsers []*yaml.Node
}

// registryBuilder makes a registry that parsing found described without
// mistakes. It reports what goes wrong to its parser, with the place in
// the file, and then returns nil.
type registryBuilder func() ociregistry.Interface

// sortedErrs returns the mistakes found, in the order of the file, or
// nil when there are none.
func (p *configParser) sortedErrs() error {
	if len(p.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(p.errs, func(a, b *configError) int {
		if a.line != b.line {
			return a.line - b.line
		}
		return a.column - b.column
	})
	return p.errs
}

// path resolves name, a path in the config file, against the file's
// directory.
func (p *configParser) path(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(filepath.Dir(p.file), name)
}

func (p *configParser) errorf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &configError{file: p.file, line: n.Line, column: n.Column, msg: fmt.Sprintf(format, args...)})
}

// mapping is a YAML mapping whose fields are taken one by one; done
// reports those left, which nothing knows.
type mapping struct {
	p      *configParser
	node   *yaml.Node
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
	taken  map[string]bool
}

// mapping returns n as a mapping, or nil after reporting that it is not
// one.
func (p *configParser) mapping(n *yaml.Node, what string) *mapping {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "%s must be a mapping", what)
		return nil
	}
	m := &mapping{p: p, node: n, keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}, taken: map[string]bool{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := m.keys[k.Value]; dup {
			p.errorf(k, "field %q given twice", k.Value)
			continue
		}
		m.keys[k.Value], m.values[k.Value] = k, v
	}
	return m
}

// field returns the value of the field name, or nil when there is none
// (reported when required).
func (m *mapping) field(name string, required bool) *yaml.Node {
	m.taken[name] = true
	v := m.values[name]
	if v == nil && required {
		m.p.errorf(m.node, "missing field %q", name)
	}
	return v
}

// str returns the string field name; "" when it is missing or not a
// string (reported).
func (m *mapping) str(name string, required bool) (string, *yaml.Node) {
	v := m.field(name, required)
	if v == nil {
		return "", nil
	}
	if v.Kind != yaml.ScalarNode || v.Tag != "!!str" && v.Tag != "!!int" && v.Tag != "!!float" {
		m.p.errorf(v, "%s must be a string", name)
		return "", nil
	}
	if v.Value == "" && required {
		m.p.errorf(v, "%s must not be empty", name)
	}
	return v.Value, v
}

func (m *mapping) boolean(name string) bool {
	v := m.field(name, false)
	if v == nil {
		return false
	}
	var b bool
	if v.Kind != yaml.ScalarNode || v.Decode(&b) != nil {
		m.p.errorf(v, "%s must be true or false", name)
	}
	return b
}

func (m *mapping) duration(name string) time.Duration {
	s, v := m.str(name, false)
	if v == nil {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		m.p.errorf(v, "%s: %v", name, err)
	}
	return d
}

// strings returns the field name, a sequence of strings, with the node
// of each.
func (m *mapping) strings(name string, required bool) ([]string, []*yaml.Node) {
	v := m.field(name, required)
	if v == nil {
		return nil, nil
	}
	if v.Kind != yaml.SequenceNode {
		m.p.errorf(v, "%s must be a list", name)
		return nil, nil
	}
	if len(v.Content) == 0 && required {
		m.p.errorf(v, "%s must not be empty", name)
	}
	var ss []string
	var ns []*yaml.Node
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode {
			m.p.errorf(e, "%s must hold strings", name)
			continue
		}
		ss, ns = append(ss, e.Value), append(ns, e)
	}
	return ss, ns
}

// done reports the fields that were not taken.
func (m *mapping) done() {
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		k := m.node.Content[i]
		if !m.taken[k.Value] {
			m.p.errorf(k, "unknown field %q", k.Value)
		}
	}
}

// loadConfigFile reads cfg.configFile into cfg. Settings of the file
// that a flag in set also gives are left as the flag says. It returns
// configErrors, or an error reading the file. It only checks the file:
// the registry is made later by cfg.buildRegistry.
func loadConfigFile(cfg *serveConfig, set map[string]bool) error {
	data, err := os.ReadFile(cfg.configFile)
	if err != nil {
		return fmt.Errorf("ocireg serve: %w", err)
	}
	return parseConfig(cfg.configFile, data, cfg, set)
}

// parseConfig is loadConfigFile for data, the content of the config
// file named file (relative paths in it are relative to file's
// directory). It returns configErrors for every mistake found. It
// makes nothing: cfg.buildRegistry does, later.
func parseConfig(file string, data []byte, cfg *serveConfig, set map[string]bool) error {
	p := &configParser{file: file, m: cfg.metrics, cfg: cfg}
	if e := checkText(data); e != nil {
		e.file = file
		return configErrors{e}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := syntaxError(data, err)
		e.file = file
		return configErrors{e}
	}
	if len(doc.Content) == 0 {
		return configErrors{{file: p.file, line: 1, column: 1, msg: "empty config file"}}
	}
	build := p.parseServer(doc.Content[0], cfg, set)
	if err := p.sortedErrs(); err != nil {
		return err
	}
	cfg.buildRegistry = func(logger *slog.Logger) (ociregistry.Interface, error) {
		p.logger = logger
		r := build()
		if err := p.sortedErrs(); err != nil {
			return nil, err
		}
		cfg.s3Stores = p.s3Stores
		return r, nil
	}
	return nil
}

// checkText returns the first character of data that a YAML file may
// not hold (a control character other than tab and line breaks, or
// bytes that are not UTF-8) as a configError without its file, or nil
// when there is none. The YAML parser rejects them too, but without
// saying where they are.
func checkText(data []byte) *configError {
	line, column := 1, 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return &configError{line: line, column: column, msg: fmt.Sprintf("invalid UTF-8 (byte %#02x)", data[i])}
		case r == '\n' || r == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			line, column = line+1, 0
		case r == '\t', r == '\r', r == 0x85:
		case r < 0x20 || r >= 0x7f && r < 0xa0 || r >= 0xd800 && r < 0xe000 || r == 0xfffe || r == 0xffff:
			return &configError{line: line, column: column, msg: fmt.Sprintf("control character %U is not allowed", r)}
		}
		i += size
		column++
	}
	return nil
}

// syntaxError returns err, a syntax error of the YAML parser in data, as
// a configError without its file, at the place the parser gives.
func syntaxError(data []byte, err error) *configError {
	var le *yaml.LoadError
	if !errors.As(err, &le) || le.Mark.Line == 0 {
		// No place: the start of the file is the least wrong one.
		return &configError{line: 1, column: 1, msg: oneLine(strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	e := &configError{line: le.Mark.Line, column: max(le.Mark.Column, 1), msg: oneLine(le.Message)}
	if le.ContextMark.Line == 0 || le.ContextMsg == "" {
		return e
	}
	if le.Mark.Index >= utf8.RuneCount(data) {
		// The file ended inside something left open, such as a "[":
		// where that began is what to look at.
		e.line, e.column = le.ContextMark.Line, max(le.ContextMark.Column, 1)
		e.msg += fmt.Sprintf(" before the end of the file (%s that starts here)", oneLine(le.ContextMsg))
	} else {
		e.msg += fmt.Sprintf(" (%s that starts at %d:%d)", oneLine(le.ContextMsg), le.ContextMark.Line, max(le.ContextMark.Column, 1))
	}
	return e
}

// oneLine returns s with its line breaks as spaces: each mistake is
// reported on a line of its own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// parseServer checks the config file's top level, n, setting cfg from
// it, and returns the builder of its registry (nil after a mistake).
func (p *configParser) parseServer(n *yaml.Node, cfg *serveConfig, set map[string]bool) registryBuilder {
	m := p.mapping(n, "the config file")
	if m == nil {
		return nil
	}
	if s, v := m.str("addr", false); v != nil && !set["addr"] {
		cfg.addr = s
	}
	if s, v := m.str("logFormat", false); v != nil && !set["log-format"] {
		if s != "text" && s != "json" {
			p.errorf(v, "logFormat must be text or json")
		}
		cfg.logFormat = s
	}
	if s, v := m.str("htpasswd", false); v != nil && !set["htpasswd"] {
		s = p.path(s)
		if _, err := os.Stat(s); err != nil {
			p.errorf(v, "htpasswd: %v", err)
		} else if _, err := loadHtpasswd(s); err != nil {
			p.errorf(v, "%v", err)
		}
		cfg.htpasswd = s
	}
	if v := m.field("tls", false); v != nil && !set["tls-cert"] {
		if tm := p.mapping(v, "tls"); tm != nil {
			cert, cn := tm.str("cert", true)
			key, kn := tm.str("key", true)
			cert, key = p.path(cert), p.path(key)
			for _, f := range []struct {
				name string
				n    *yaml.Node
			}{{cert, cn}, {key, kn}} {
				if f.n != nil {
					if _, err := os.Stat(f.name); err != nil {
						p.errorf(f.n, "%v", err)
					}
				}
			}
			tm.done()
			cfg.tlsCert, cfg.tlsKey = cert, key
		}
	}
	access := m.field("access", false)
	if access != nil {
		cfg.rules = p.parseRules(access)
	}
	if v := m.field("issuers", false); v != nil {
		cfg.issuers = p.parseIssuers(v)
		if cfg.rules == nil {
			p.errorf(v, "issuers need access rules: without them, every identity an issuer vouches for could do everything")
		}
	}
	if access != nil && cfg.htpasswd == "" && cfg.issuers == nil {
		p.errorf(access, "access rules need htpasswd (or --htpasswd) or issuers")
	}
	if users, err := loadHtpasswd(cfg.htpasswd); cfg.htpasswd != "" && err == nil {
		// A rule for a user the file does not have (a typo) would
		// quietly give nobody anything.
		for _, un := range p.ruleUsers {
			if _, ok := users.hashes[un.Value]; !ok && un.Value != "*" && !isIssuerIdentity(un.Value) {
				p.errorf(un, "user %q is not in the htpasswd file %s", un.Value, cfg.htpasswd)
			}
		}
	}
	if v := m.field("token", false); v != nil {
		cfg.token = p.parseToken(v)
		if cfg.htpasswd == "" && cfg.issuers == nil {
			p.errorf(v, "token needs htpasswd (or --htpasswd) or issuers: tokens are given to their users")
		}
	}
	if v := m.field("events", false); v != nil {
		cfg.events = p.parseEvents(v)
	}
	if v := m.field("limits", false); v != nil {
		p.parseLimits(v, cfg, set)
	}
	if v := m.field("anonymousMount", false); v != nil && !set["no-anonymous-mount"] {
		var on bool
		if v.Kind != yaml.ScalarNode || v.Decode(&on) != nil {
			p.errorf(v, "anonymousMount must be true or false")
		}
		cfg.noAnonMount = !on
	}
	var build registryBuilder
	if v := m.field("registry", false); v != nil {
		build, cfg.backend = p.parseRegistry(v, false)
	} else {
		p.errorf(n, `missing field "registry"`)
	}
	m.done()
	return build
}

// endpointName is what an events endpoint's name may be: it names a
// folder of the outbox.
var endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// parseEvents returns the settings of the config file's events section,
// n.
func (p *configParser) parseEvents(n *yaml.Node) *eventsConfig {
	m := p.mapping(n, "events")
	if m == nil {
		return nil
	}
	ec := &eventsConfig{maxPending: defaultMaxPendingEvents}
	if s, v := m.str("dir", true); v != nil {
		ec.dir = p.path(s)
	}
	if v := m.field("maxPending", false); v != nil {
		if v.Kind != yaml.ScalarNode || v.Decode(&ec.maxPending) != nil || ec.maxPending < 1 {
			p.errorf(v, "maxPending must be a whole number of at least 1")
		}
	}
	eps := m.field("endpoints", true)
	if eps != nil && (eps.Kind != yaml.SequenceNode || len(eps.Content) == 0) {
		p.errorf(eps, "endpoints must be a list of {name, url, format, headers, timeout}")
		eps = nil
	}
	for _, en := range func() []*yaml.Node {
		if eps == nil {
			return nil
		}
		return eps.Content
	}() {
		em := p.mapping(en, "an endpoint")
		if em == nil {
			continue
		}
		ep := endpointConfig{format: formatDistribution, timeout: defaultEventTimeout, headers: http.Header{}}
		var nn *yaml.Node
		if ep.name, nn = em.str("name", true); nn != nil {
			if !endpointName.MatchString(ep.name) {
				p.errorf(nn, "name must be lower-case letters, digits, '.', '_' or '-' (it names a folder of the outbox)")
			}
			for _, other := range ec.endpoints {
				if other.name == ep.name {
					p.errorf(nn, "endpoint %s is listed twice", ep.name)
				}
			}
		}
		if s, v := em.str("url", true); v != nil {
			if u, err := url.Parse(s); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
				p.errorf(v, "url must be an http or https URL")
			}
			ep.url = s
		}
		if s, v := em.str("format", false); v != nil {
			if s != formatDistribution && s != formatCloudEvents {
				p.errorf(v, "format must be %s or %s", formatDistribution, formatCloudEvents)
			}
			ep.format = s
		}
		if hv := em.field("headers", false); hv != nil {
			hm := p.mapping(hv, "headers")
			if hm != nil {
				for i := 0; i+1 < len(hv.Content); i += 2 {
					k := hv.Content[i].Value
					s, v := hm.str(k, false)
					if v != nil {
						if k == "" || strings.ContainsAny(k, " :\r\n\x00") || strings.ContainsAny(s, "\r\n\x00") {
							p.errorf(hv.Content[i], "header %q: a name without spaces or colons and a value on one line", k)
						}
						ep.headers.Add(k, s)
					}
				}
				hm.done()
			}
		}
		if _, v := em.str("timeout", false); v != nil {
			if ep.timeout = em.duration("timeout"); ep.timeout <= 0 {
				p.errorf(v, "timeout must be a positive duration")
			}
		}
		em.done()
		ec.endpoints = append(ec.endpoints, ep)
	}
	m.done()
	return ec
}

// parseIssuers returns the trusted issuers of the config file's issuers
// list, n.
func (p *configParser) parseIssuers(n *yaml.Node) []issuerConfig {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		p.errorf(n, "issuers must be a list of {url, audience, claim, prefix}")
		return nil
	}
	var issuers []issuerConfig
	for _, e := range n.Content {
		m := p.mapping(e, "an issuer")
		if m == nil {
			continue
		}
		ic := issuerConfig{claim: "sub"}
		var un *yaml.Node
		ic.url, un = m.str("url", true)
		if un != nil {
			u, err := url.Parse(ic.url)
			if err != nil || u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
				// Keys fetched in the clear could be anyone's.
				p.errorf(un, "url must be the issuer's https URL (http only on the loopback), as its tokens' iss claim says it")
			} else {
				// Issuers of one host (a cloud's clusters, a
				// server's realms) differ by their path.
				ic.prefix = u.Host + strings.TrimSuffix(u.Path, "/") + ":"
			}
		}
		ic.audience, _ = m.str("audience", true)
		if s, v := m.str("claim", false); v != nil {
			if s == "" {
				p.errorf(v, "claim must not be empty")
			}
			ic.claim = s
		}
		pn := un
		if s, v := m.str("prefix", false); v != nil {
			if !strings.HasSuffix(s, ":") {
				p.errorf(v, "prefix must end with a colon, which keeps issuers' identities apart from htpasswd users")
			}
			ic.prefix, pn = s, v
		}
		for _, other := range issuers {
			switch {
			case un != nil && other.url == ic.url:
				p.errorf(un, "issuer %s is listed twice", ic.url)
			case pn != nil && ic.prefix != "" && other.prefix != "" && (strings.HasPrefix(ic.prefix, other.prefix) || strings.HasPrefix(other.prefix, ic.prefix)):
				// One issuer could name an identity of the other.
				p.errorf(pn, "prefix %q overlaps issuer %s's %q: each issuer needs a prefix that does not start another's", ic.prefix, other.url, other.prefix)
			}
		}
		m.done()
		issuers = append(issuers, ic)
	}
	return issuers
}

// isLoopback reports whether host names the local machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseToken returns the token service's settings from the config
// file's token section, n.
func (p *configParser) parseToken(n *yaml.Node) *tokenConfig {
	tc := &tokenConfig{issuer: defaultTokenIssuer, service: defaultTokenService, expiry: defaultTokenExpiry}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// "token:" alone, all defaults.
		return tc
	}
	m := p.mapping(n, "token")
	if m == nil {
		return tc
	}
	if s, v := m.str("key", false); v != nil {
		tc.keyFile = p.path(s)
		if k, err := loadTokenKey(tc.keyFile); err != nil {
			p.errorf(v, "%v", err)
		} else if _, err := signingMethod(k); err != nil {
			p.errorf(v, "token key %s: %v", tc.keyFile, err)
		}
	}
	for _, f := range []struct {
		name string
		to   *string
	}{{"issuer", &tc.issuer}, {"service", &tc.service}} {
		if s, v := m.str(f.name, false); v != nil {
			if s == "" || strings.ContainsAny(s, "\"\\") || strings.IndexFunc(s, unicode.IsControl) >= 0 {
				p.errorf(v, "%s must be a non-empty string without quotes, backslashes or control characters", f.name)
			}
			*f.to = s
		}
	}
	if s, v := m.str("realm", false); v != nil {
		if u, err := url.Parse(s); err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || strings.ContainsAny(s, "\"\\") {
			p.errorf(v, "realm must be an http or https URL, such as https://registry.example.com/token")
		}
		tc.realm = s
	}
	if s, v := m.str("expiry", false); v != nil {
		d, err := time.ParseDuration(s)
		if err != nil || d < minTokenExpiry || d > maxTokenExpiry {
			p.errorf(v, "expiry must be a duration between %v and %v", minTokenExpiry, maxTokenExpiry)
		}
		tc.expiry = d
	}
	m.done()
	return tc
}

// parseLimits sets cfg from the limits of the config file, n, for those
// of them that no flag in set gives. Every field is checked, also those
// that a flag overrides.
func (p *configParser) parseLimits(n *yaml.Node, cfg *serveConfig, set map[string]bool) {
	m := p.mapping(n, "limits")
	if m == nil {
		return
	}
	m.limitDuration("headerTimeout", !set["header-timeout"], &cfg.headerTimeout)
	m.limitDuration("readTimeout", !set["read-timeout"], &cfg.readTimeout)
	m.limitDuration("writeTimeout", !set["write-timeout"], &cfg.writeTimeout)
	m.limitDuration("idleTimeout", !set["idle-timeout"], &cfg.idleTimeout)
	m.limitDuration("uploadTimeout", !set["upload-timeout"], &cfg.uploadTimeout)
	m.limitSize("headerBytes", !set["max-header-bytes"], &cfg.headerBytes)
	m.limitSize("memUploadBytes", !set["mem-max-upload-bytes"], &cfg.memUploadBytes)
	if v := m.field("uploads", false); v != nil {
		var n int
		if v.Kind != yaml.ScalarNode || v.Decode(&n) != nil {
			p.errorf(v, "uploads must be a whole number")
		} else if !set["max-uploads"] {
			cfg.maxUploads = n
		}
	}
	m.done()
}

// limitDuration sets *to to the duration field name, when it is given
// and use is true.
func (m *mapping) limitDuration(name string, use bool, to *time.Duration) {
	given := m.values[name] != nil
	if d := m.duration(name); given && use {
		*to = d
	}
}

// limitSize sets *to to the size field name, when it is given and use
// is true.
func (m *mapping) limitSize(name string, use bool, to *sizeLimit) {
	s, v := m.str(name, false)
	if v == nil {
		return
	}
	n, err := parseSizeLimit(s)
	if err != nil {
		m.p.errorf(v, "%s: %v", name, err)
	} else if use {
		*to = n
	}
}

func (p *configParser) parseRules(n *yaml.Node) []accessRule {
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "access must be a list of rules")
		return nil
	}
	rules := []accessRule{}
	for _, rn := range n.Content {
		m := p.mapping(rn, "an access rule")
		if m == nil {
			continue
		}
		var r accessRule
		var uns []*yaml.Node
		r.users, uns = m.strings("users", true)
		p.ruleUsers = append(p.ruleUsers, uns...)
		var pns []*yaml.Node
		r.patterns, pns = m.strings("repositories", true)
		for i, pat := range r.patterns {
			if err := checkRepoPattern(pat); err != nil {
				p.errorf(pns[i], "%v", err)
			}
		}
		verbs, vns := m.strings("allow", true)
		for i, verb := range verbs {
			a, ok := accessVerbs[verb]
			if !ok {
				p.errorf(vns[i], "unknown access %q (want pull, push or delete)", verb)
			}
			r.access = append(r.access, a)
		}
		m.done()
		rules = append(rules, r)
	}
	return rules
}

// registryKinds are the kinds of registry, in the order errors list them.
var registryKinds = []string{"mem", "fs", "s3", "remote", "proxy", "unify", "readonly", "immutable", "select", "sub"}

// parseRegistry checks the registry that n describes and returns its
// builder with a description for the logs. It returns a nil builder
// after reporting a mistake. lax asks for a store that takes manifests
// before their blobs, as a proxy's cache must.
func (p *configParser) parseRegistry(n *yaml.Node, lax bool) (registryBuilder, string) {
	m := p.mapping(n, "a registry")
	if m == nil {
		return nil, ""
	}
	defer m.done()
	kind, kn := m.str("kind", true)
	if kn == nil {
		return nil, ""
	}
	switch kind {
	case "mem":
		return p.parseMem(m, lax)
	case "fs":
		return p.parseFS(m, lax)
	case "s3":
		return p.parseS3(m, lax)
	case "remote":
		return p.parseRemote(n, m)
	case "proxy":
		return p.parseProxy(m)
	case "unify":
		return p.parseUnify(m, lax)
	case "readonly", "immutable":
		return p.parseFilter(m, kind, lax)
	case "select":
		return p.parseSelect(m, lax)
	case "sub":
		return p.parseSub(m, lax)
	}
	p.errorf(kn, "unknown kind %q (want one of %s)", kind, strings.Join(registryKinds, ", "))
	// The fields of an unknown kind mean nothing: report only the kind.
	for k := range m.values {
		m.taken[k] = true
	}
	return nil, ""
}

// inner parses the field name of m as a registry.
func (p *configParser) inner(m *mapping, name string, lax bool) (registryBuilder, string) {
	v := m.field(name, true)
	if v == nil {
		return nil, ""
	}
	return p.parseRegistry(v, lax)
}

// parseMem parses a registry of kind mem (in memory); see parseRegistry.
func (p *configParser) parseMem(m *mapping, lax bool) (registryBuilder, string) {
	lax = lax || m.boolean("laxReferences")
	return func() ociregistry.Interface {
		tuneGCForMemory()
		return ocimem.NewWithConfig(p.cfg.memConfig(lax))
	}, "mem"
}

// parseFS parses a registry of kind fs (in a directory); see parseRegistry.
func (p *configParser) parseFS(m *mapping, lax bool) (registryBuilder, string) {
	lax = lax || m.boolean("laxReferences")
	dir, dn := m.str("dir", true)
	if dn == nil || dir == "" {
		return nil, ""
	}
	dir = p.path(dir)
	if err := checkDir(dir); err != nil {
		p.errorf(dn, "%v", err)
		return nil, ""
	}
	return func() ociregistry.Interface {
		// ocifs.New makes the directory when it is missing.
		r, err := ocifs.New(dir, p.cfg.fsOptions(lax))
		if err != nil {
			p.errorf(dn, "%v", err)
			return nil
		}
		return r
	}, "fs " + dir
}

// parseS3 parses a registry of kind s3 (in an S3 bucket); see parseRegistry.
func (p *configParser) parseS3(m *mapping, lax bool) (registryBuilder, string) {
	// Credentials come from the standard AWS chain, never from
	// the file.
	cfg := ocis3.Config{LaxChildReferences: lax || m.boolean("laxReferences")}
	var bn, en *yaml.Node
	cfg.Bucket, bn = m.str("bucket", true)
	cfg.Prefix, _ = m.str("prefix", false)
	cfg.Endpoint, en = m.str("endpoint", false)
	cfg.Region, _ = m.str("region", false)
	cfg.PathStyle = m.boolean("pathStyle")
	cfg.Redirect = m.boolean("redirect")
	if bn == nil || cfg.Bucket == "" {
		return nil, ""
	}
	if en != nil {
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.errorf(en, "endpoint %q is not an http or https URL", cfg.Endpoint)
			return nil, ""
		}
	}
	desc := "s3 bucket " + cfg.Bucket
	if cfg.Prefix != "" {
		desc += " prefix " + cfg.Prefix
	}
	if cfg.Endpoint != "" {
		desc += " at " + cfg.Endpoint
	}
	return func() ociregistry.Interface {
		r, err := ocis3.New(context.Background(), cfg)
		if err != nil {
			p.errorf(bn, "%v", err)
			return nil
		}
		p.s3Stores = append(p.s3Stores, r)
		return r
	}, desc
}

// defaultRemoteResponseTimeout is how long a remote registry may take
// to answer a request, once it is sent, or go quiet while it sends the
// answer, by default.
const defaultRemoteResponseTimeout = time.Minute

// remoteTransport returns the transport of a remote registry: an answer
// must start within timeout of the request being sent, and its body may
// not go quiet for longer.
func remoteTransport(timeout time.Duration) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = timeout
	return &idleBodyTransport{base: t, timeout: timeout}
}

// idleBodyTransport cancels a request whose answer's body gets no read
// through for timeout. The bound is the request's own: a deadline on
// the connection would also run while it waits in the pool.
type idleBodyTransport struct {
	base    http.RoundTripper
	timeout time.Duration
}

func (t *idleBodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = &idleBody{ReadCloser: resp.Body, cancel: cancel, timer: time.AfterFunc(t.timeout, cancel), timeout: t.timeout}
	return resp, nil
}

// idleBody is a body whose request is cancelled when no read gets
// through it for timeout.
type idleBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	timer   *time.Timer
	timeout time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.timeout)
	return b.ReadCloser.Read(p)
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	b.cancel()
	return b.ReadCloser.Close()
}

// parseRemote parses a registry of kind remote (another registry over HTTP); see parseRegistry.
func (p *configParser) parseRemote(n *yaml.Node, m *mapping) (registryBuilder, string) {
	url, un := m.str("url", true)
	insecure := m.boolean("insecure")
	user, userN := m.str("username", false)
	password, pn := m.str("password", false)
	timeout := defaultRemoteResponseTimeout
	if s, v := m.str("responseTimeout", false); v != nil {
		var err error
		if timeout, err = time.ParseDuration(s); err != nil || timeout <= 0 {
			p.errorf(v, "responseTimeout must be a positive duration")
		}
	}
	if un == nil {
		return nil, ""
	}
	if (userN == nil) != (pn == nil) {
		p.errorf(n, "username and password go together")
		return nil, ""
	}
	var auth ociauth.CredentialsSource
	if userN != nil {
		host := strings.TrimPrefix(strings.TrimPrefix(url, "https://"), "http://")
		auth = ociauth.StaticCredentials{strings.TrimSuffix(host, "/"): {Username: user, Password: password}}
	} else {
		cfg, err := ociauth.Load()
		if err != nil {
			p.errorf(un, "reading the docker config for credentials: %v", err)
			return nil, ""
		}
		auth = cfg
	}
	// A registry that takes connections and never answers, or stops
	// sending an answer, must not hold the requests that ask it (nor,
	// in a unify, those that ask the other registry too).
	opts := &ociclient.Options{Insecure: insecure, Auth: auth, Transport: remoteTransport(timeout)}
	// Making a client only checks the URL, so it is done here
	// to report a bad one as a mistake; the builder makes the
	// client again, with the server's logger.
	if _, err := ociclient.New(url, opts); err != nil {
		p.errorf(un, "%v", err)
		return nil, ""
	}
	return func() ociregistry.Interface {
		opts := *opts
		opts.Logger = p.logger
		r, err := ociclient.New(url, &opts)
		if err != nil {
			p.errorf(un, "%v", err)
			return nil
		}
		return r
	}, "remote " + url
}

// parseProxy parses a registry of kind proxy (a pull-through cache); see parseRegistry.
func (p *configParser) parseProxy(m *mapping) (registryBuilder, string) {
	up, upd := p.inner(m, "upstream", false)
	cache, cached := p.inner(m, "cache", true)
	ttl := m.duration("tagTTL")
	stall := m.duration("stallTimeout")
	if up == nil || cache == nil {
		return nil, ""
	}
	return func() ociregistry.Interface {
		u, c := up(), cache()
		if u == nil || c == nil {
			return nil
		}
		return newProxy(u, c, &ociproxy.Options{TagTTL: ttl, FillStallTimeout: stall, Logger: p.logger}, p.m)
	}, "proxy of (" + upd + ") cached in (" + cached + ")"
}

// parseUnify parses a registry of kind unify (two registries seen as one); see parseRegistry.
func (p *configParser) parseUnify(m *mapping, lax bool) (registryBuilder, string) {
	v := m.field("registries", true)
	if v == nil {
		return nil, ""
	}
	if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
		p.errorf(v, "registries must be a list of two registries")
		return nil, ""
	}
	b0, d0 := p.parseRegistry(v.Content[0], lax)
	b1, d1 := p.parseRegistry(v.Content[1], lax)
	if b0 == nil || b1 == nil {
		return nil, ""
	}
	return func() ociregistry.Interface {
		r0, r1 := b0(), b1()
		if r0 == nil || r1 == nil {
			return nil
		}
		return ociunify.New(r0, r1, nil)
	}, "unify (" + d0 + ") and (" + d1 + ")"
}

// parseFilter parses a registry of kind readonly and immutable (a read-only or immutable view); see parseRegistry.
func (p *configParser) parseFilter(m *mapping, kind string, lax bool) (registryBuilder, string) {
	b, d := p.inner(m, "registry", lax)
	if b == nil {
		return nil, ""
	}
	if kind == "readonly" {
		return wrapBuilder(b, ocifilter.ReadOnly), "read-only " + d
	}
	return wrapBuilder(b, ocifilter.Immutable), "immutable " + d
}

// parseSelect parses a registry of kind select (some repositories of a registry); see parseRegistry.
func (p *configParser) parseSelect(m *mapping, lax bool) (registryBuilder, string) {
	b, d := p.inner(m, "registry", lax)
	pats, pns := m.strings("repositories", true)
	ok := true
	for i, pat := range pats {
		if err := checkRepoPattern(pat); err != nil {
			p.errorf(pns[i], "%v", err)
			ok = false
		}
	}
	if b == nil || !ok || pats == nil {
		return nil, ""
	}
	allow := func(repo string) bool {
		return slices.ContainsFunc(pats, func(pat string) bool { return matchRepo(pat, repo) })
	}
	return wrapBuilder(b, func(r ociregistry.Interface) ociregistry.Interface {
		return ocifilter.Select(r, allow)
	}), fmt.Sprintf("%s selecting %q", d, pats)
}

// parseSub parses a registry of kind sub (the repositories under a prefix); see parseRegistry.
func (p *configParser) parseSub(m *mapping, lax bool) (registryBuilder, string) {
	b, d := p.inner(m, "registry", lax)
	prefix, pn := m.str("prefix", true)
	if pn != nil && !validPrefix(prefix) {
		p.errorf(pn, "prefix %q is not a repository name", prefix)
		return nil, ""
	}
	if b == nil || pn == nil {
		return nil, ""
	}
	return wrapBuilder(b, func(r ociregistry.Interface) ociregistry.Interface {
		return ocifilter.Sub(r, prefix)
	}), fmt.Sprintf("%s under %q", d, prefix)
}

// wrapBuilder returns a builder of wrap applied to what b builds.
func wrapBuilder(b registryBuilder, wrap func(ociregistry.Interface) ociregistry.Interface) registryBuilder {
	return func() ociregistry.Interface {
		r := b()
		if r == nil {
			return nil
		}
		return wrap(r)
	}
}

var prefixRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

func validPrefix(s string) bool {
	return prefixRE.MatchString(s) && ociregistry.CheckRepository(s) == nil
}

// checkDir returns an error when dir exists but is not a directory that
// can be read, or does not exist and could not be made because what
// would be its nearest existing parent is not a directory. It changes
// nothing: the directory is made when the registry is built.
func checkDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		if err := checkDir(parent); err != nil {
			return fmt.Errorf("cannot make %s: %w", dir, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
