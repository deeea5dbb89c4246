// Package ociserver serves the OCI distribution API (version 1.1 of the
// specification) over HTTP for any ociregistry.Interface.
//
// The server does not know what it serves: memory, disk, a wrapper or a
// remote registry through a client all look the same to it. It checks
// repository names, tags and digests before it calls the backend, bounds
// the memory any one request can make it hold (manifests are read up to
// Options.MaxManifestSize, blobs are streamed), and answers errors in the
// specification's JSON form with the status that goes with their code
// (see ociregistry.MarshalError).
//
// A manifest is stored in one form only, so a GET of a manifest answers
// the stored manifest with its own media type as Content-Type whatever the
// Accept header lists: the client decides what to do with a type it did
// not ask for, as most registries expect.
package ociserver

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ocireg/ociregistry"
)

// DefaultMaxManifestSize is the largest manifest accepted when
// Options.MaxManifestSize is zero: the specification asks registries to
// accept at least 4 MiB.
const DefaultMaxManifestSize = 4 << 20

// DefaultReferrersPageSize is the number of descriptors in one page of a
// referrers response when Options.ReferrersPageSize is zero.
const DefaultReferrersPageSize = 1000

// DefaultListPageSize is the most tags or repositories answered in one
// page when Options.ListPageSize is zero. A client that asks for more with
// the n parameter gets this many and a Link header to the rest.
const DefaultListPageSize = 10000

// Options holds the optional settings of a server. The zero value, like a
// nil *Options, gives the defaults.
type Options struct {
	// MaxManifestSize is the largest manifest body accepted by a PUT, in
	// bytes; a bigger one is answered with 413. Zero means
	// DefaultMaxManifestSize.
	MaxManifestSize int64

	// DisableReferrersAPI makes the referrers endpoint answer 404, as a
	// registry without the API does, so that clients fall back to the
	// referrers tag schema. It also stops the OCI-Subject header being
	// sent when a manifest with a subject is pushed.
	DisableReferrersAPI bool

	// DisableSinglePostUpload makes a POST with a digest start an upload
	// session (202) instead of storing the blob from the POST's body.
	DisableSinglePostUpload bool

	// DisableAnonymousMount makes a mount without a from parameter
	// start an upload session (202), as CNCF Distribution does, rather
	// than look for the blob in the repository and in others (what the
	// conformance suite calls automatic content discovery).
	DisableAnonymousMount bool

	// Logger, when not nil, receives a record of every request that
	// failed: at level Error for a 5xx status, at level Debug otherwise.
	Logger *slog.Logger

	// ReferrersPageSize is the most descriptors in one page of a
	// referrers response. Zero means DefaultReferrersPageSize.
	ReferrersPageSize int

	// ListPageSize is the most tags or repositories in one page of a
	// listing. Zero means DefaultListPageSize.
	ListPageSize int

	// MaxUploads bounds the uploads in progress: the upload sessions
	// the server started (POST) and has not seen finished, cancelled
	// or idle for longer than UploadIdleTimeout, and the single-request
	// uploads (POST with a digest) being received. A POST that would
	// start one more is answered 429 TOOMANYREQUESTS with a Retry-After
	// header, before anything is read or stored; the uploads in
	// progress go on. Zero means DefaultMaxUploads; a negative value
	// means no limit, and no session is ever cancelled by the server.
	MaxUploads int

	// UploadIdleTimeout is how long an upload session may go untouched
	// before the server stops counting it and cancels it in the
	// backend, which frees what it holds there. Zero means
	// DefaultUploadIdleTimeout.
	UploadIdleTimeout time.Duration
}

// server is the http.Handler returned by New.
type server struct {
	backend ociregistry.Interface
	opts    Options
	logger  *slog.Logger
	// uploads counts the uploads in progress; nil when they are not
	// limited.
	uploads *uploadLimiter
}

// New returns an http.Handler that serves the OCI distribution API under
// /v2/ with r as its storage. A nil opts is the same as &Options{}.
//
// Every response carries the header Docker-Distribution-API-Version:
// registry/2.0. Requests for paths the API does not define are answered
// 404 with code UNSUPPORTED, and requests with a method an endpoint does
// not support 405 with code UNSUPPORTED. Every endpoint that answers GET
// answers HEAD with the same status and headers and no body.
func New(r ociregistry.Interface, opts *Options) http.Handler {
	s := &server{backend: r}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxManifestSize <= 0 {
		s.opts.MaxManifestSize = DefaultMaxManifestSize
	}
	if s.opts.ReferrersPageSize <= 0 {
		s.opts.ReferrersPageSize = DefaultReferrersPageSize
	}
	if s.opts.ListPageSize <= 0 {
		s.opts.ListPageSize = DefaultListPageSize
	}
	if s.opts.MaxUploads == 0 {
		s.opts.MaxUploads = DefaultMaxUploads
	}
	if s.opts.UploadIdleTimeout <= 0 {
		s.opts.UploadIdleTimeout = DefaultUploadIdleTimeout
	}
	if s.opts.MaxUploads > 0 {
		s.uploads = newUploadLimiter(s.opts.MaxUploads, s.opts.UploadIdleTimeout)
	}
	s.logger = s.opts.Logger
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	return s
}

// routeKind says which endpoint a request is for.
type routeKind int

const (
	routeUnknown routeKind = iota
	routePing
	routeCatalog
	routeBlob
	routeUploadStart
	routeUpload
	routeManifest
	routeTags
	routeReferrers
)

// route is a parsed request path.
type route struct {
	kind routeKind
	repo string
	// ref holds the digest, the tag-or-digest or the upload ID,
	// unescaped, according to kind.
	ref string
}

// parsePath parses the path of a request as the client sent it (see
// rawPath). Repository names hold slashes and may hold path elements
// such as "blobs" or "manifests", so the endpoint is found from the end
// of the path.
//
// Only the reference (tag, digest or upload ID) is unescaped, since some
// clients escape the colon of a digest. The repository name and the
// endpoint's words are taken as sent: a name holds no character that
// needs escaping, so a name with a percent sign is invalid (see
// checkRouteRepo) rather than decoded, and "a%2Fb" or "%2E%2E" can never
// reach the backend, a filter or an access rule as "a/b" or "..".
func parsePath(escaped string) route {
	rest, ok := strings.CutPrefix(escaped, "/v2")
	if !ok {
		return route{}
	}
	if rest == "" || rest == "/" {
		return route{kind: routePing}
	}
	rest, ok = strings.CutPrefix(rest, "/")
	if !ok {
		return route{}
	}
	if rest == "_catalog" {
		return route{kind: routeCatalog}
	}
	// The route is named by the last (up to) three elements of the
	// path; what comes before them is the repository. Cutting at the
	// last slashes rather than splitting the path makes no garbage.
	p1, e1, ok1 := cutLastSlash(rest)
	p2, e2, ok2 := cutLastSlash(p1)
	p3, e3, ok3 := cutLastSlash(p2)
	ok2 = ok1 && ok2
	ok3 = ok2 && ok3
	var rt route
	switch {
	case ok2 && e2 == "tags" && e1 == "list":
		rt = route{kind: routeTags, repo: p2}
	case ok2 && e2 == "blobs" && e1 == "uploads":
		rt = route{kind: routeUploadStart, repo: p2}
	case ok3 && e3 == "blobs" && e2 == "uploads":
		if e1 == "" {
			rt = route{kind: routeUploadStart, repo: p3}
		} else {
			rt = route{kind: routeUpload, repo: p3, ref: e1}
		}
	case ok2 && e2 == "blobs":
		rt = route{kind: routeBlob, repo: p2, ref: e1}
	case ok2 && e2 == "manifests":
		rt = route{kind: routeManifest, repo: p2, ref: e1}
	case ok2 && e2 == "referrers":
		rt = route{kind: routeReferrers, repo: p2, ref: e1}
	default:
		return route{}
	}
	if rt.repo == "" {
		return route{}
	}
	ref, err := url.PathUnescape(rt.ref)
	if err != nil {
		return route{}
	}
	rt.ref = ref
	return rt
}

// cutLastSlash returns s before and after its last slash, and whether it
// has one; without one, all of s is after.
func cutLastSlash(s string) (before, after string, found bool) {
	i := strings.LastIndexByte(s, '/')
	if i < 0 {
		return "", s, false
	}
	return s[:i], s[i+1:], true
}

// rawPath returns the path of u as the client sent it, escapes and all.
// URL.EscapedPath is not enough: when the raw path holds a character
// that it would have escaped, it gives the decoded path re-escaped, in
// which an escaped slash has become a slash.
func rawPath(u *url.URL) string {
	if u.RawPath != "" {
		return u.RawPath
	}
	// An empty RawPath means that the path was sent in its default
	// escaping, which EscapedPath gives back.
	return u.EscapedPath()
}

// checkRouteRepo checks the repository name of a request, as sent. It
// returns an error that Is ErrNameInvalid, saying why.
func checkRouteRepo(repo string) error {
	if i := strings.IndexByte(repo, '%'); i >= 0 {
		return ociregistry.NewError(fmt.Sprintf("invalid repository name %.100q: it is percent-encoded (%.3q); a name is sent as it is, so that no other spelling can name it", repo, repo[i:min(i+3, len(repo))]), ociregistry.ErrNameInvalid.Code(), nil)
	}
	return ociregistry.CheckRepository(repo)
}

// methods holds the methods each endpoint answers, for the Allow header.
// Every endpoint that answers GET answers HEAD, as RFC 9110 asks.
var methods = map[routeKind][]string{
	routePing:        {"GET", "HEAD"},
	routeCatalog:     {"GET", "HEAD"},
	routeBlob:        {"GET", "HEAD", "DELETE"},
	routeUploadStart: {"POST"},
	routeUpload:      {"GET", "HEAD", "PATCH", "PUT", "DELETE"},
	routeManifest:    {"GET", "HEAD", "PUT", "DELETE"},
	routeTags:        {"GET", "HEAD"},
	routeReferrers:   {"GET", "HEAD"},
}

// errNotFound answers a path that is not part of the API.
var errNotFound = ociregistry.NewHTTPError(fmt.Errorf("no such endpoint: %w", ociregistry.ErrUnsupported), http.StatusNotFound)

// apiVersion is the value of the Docker-Distribution-API-Version header,
// which every response carries. Every response shares it, so it must
// never be modified; net/http only reads it.
var apiVersion = []string{"registry/2.0"}

func (s *server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// Set in canonical form with a value shared by every response:
	// Header.Set would make both anew on every request.
	w.Header()["Docker-Distribution-Api-Version"] = apiVersion
	rt := parsePath(rawPath(req.URL))
	if rt.kind == routeUnknown {
		s.writeError(w, req, errNotFound)
		return
	}
	allowed := methods[rt.kind]
	ok := false
	for _, m := range allowed {
		if req.Method == m {
			ok = true
			break
		}
	}
	if !ok {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.writeError(w, req, ociregistry.NewHTTPError(
			fmt.Errorf("method %s not allowed here: %w", req.Method, ociregistry.ErrUnsupported),
			http.StatusMethodNotAllowed))
		return
	}
	if rt.repo != "" {
		if err := checkRouteRepo(rt.repo); err != nil {
			s.writeError(w, req, err)
			return
		}
	}
	var err error
	switch rt.kind {
	case routePing:
		err = s.ping(w, req)
	case routeCatalog:
		err = s.catalog(w, req)
	case routeBlob:
		switch req.Method {
		case "DELETE":
			err = s.deleteBlob(w, req, rt)
		default:
			err = s.getBlob(w, req, rt)
		}
	case routeUploadStart:
		err = s.startUpload(w, req, rt)
	case routeUpload:
		switch req.Method {
		case "GET", "HEAD":
			err = s.uploadStatus(w, req, rt)
		case "PATCH":
			err = s.patchUpload(w, req, rt)
		case "PUT":
			err = s.putUpload(w, req, rt)
		case "DELETE":
			err = s.cancelUpload(w, req, rt)
		}
	case routeManifest:
		switch req.Method {
		case "PUT":
			err = s.putManifest(w, req, rt)
		case "DELETE":
			err = s.deleteManifest(w, req, rt)
		default:
			err = s.getManifest(w, req, rt)
		}
	case routeTags:
		err = s.tags(w, req, rt)
	case routeReferrers:
		err = s.referrers(w, req, rt)
	}
	if err != nil {
		s.writeError(w, req, boundUploadID(rt, err))
	}
}

// maxEchoedUploadID is the most characters of an unknown upload ID that
// an answer repeats: registries hand out IDs far shorter, and a client
// that sends a longer one should not have the server send it back whole.
const maxEchoedUploadID = 100

// boundUploadID returns err, or, when err says that the upload of rt is
// unknown and its ID is longer than maxEchoedUploadID, an error that
// repeats only the ID's start (the backend's message may hold it whole).
func boundUploadID(rt route, err error) error {
	if rt.kind != routeUpload || len(rt.ref) <= maxEchoedUploadID || !errors.Is(err, ociregistry.ErrBlobUploadUnknown) {
		return err
	}
	return fmt.Errorf("upload %.*q… (%d bytes) in repository %s: %w", maxEchoedUploadID, rt.ref, len(rt.ref), rt.repo, ociregistry.ErrBlobUploadUnknown)
}

// ping answers GET /v2/.
func (s *server) ping(w http.ResponseWriter, req *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if req.Method != "HEAD" {
		w.Write([]byte("{}"))
	}
	return nil
}

// blobPath returns the path of a blob in repo.
func blobPath(repo string, d ociregistry.Digest) string {
	return "/v2/" + repo + "/blobs/" + string(d)
}

// manifestPath returns the path of a manifest in repo.
func manifestPath(repo string, ref string) string {
	return "/v2/" + repo + "/manifests/" + ref
}

// uploadPath returns the path of the upload with the given ID in repo.
func uploadPath(repo, id string) string {
	return "/v2/" + repo + "/blobs/uploads/" + url.PathEscape(id)
}

// checkRef returns the digest that ref holds, or "" when ref is a tag.
// It returns an error that Is ErrDigestInvalid or ErrManifestInvalid
// when ref is neither.
func checkRef(ref string) (ociregistry.Digest, error) {
	if strings.Contains(ref, ":") {
		d := ociregistry.Digest(ref)
		if err := ociregistry.CheckDigest(d); err != nil {
			return "", err
		}
		return d, nil
	}
	if err := ociregistry.CheckTag(ref); err != nil {
		return "", err
	}
	return "", nil
}

// checkLookupRef is checkRef for a request that reads or deletes: a
// malformed tag names no manifest, so it is answered as one that is not
// there (404 MANIFEST_UNKNOWN, as registries whose routes do not match
// such a tag answer), without asking the backend. A malformed digest is
// still DIGEST_INVALID.
func checkLookupRef(ref string) (ociregistry.Digest, error) {
	if !strings.Contains(ref, ":") {
		if err := ociregistry.CheckTag(ref); err != nil {
			return "", fmt.Errorf("no manifest has a malformed tag (%v): %w", err, ociregistry.ErrManifestUnknown)
		}
	}
	return checkRef(ref)
}

// isUnsupported reports whether err says that the backend lacks a method.
func isUnsupported(err error) bool {
	return errors.Is(err, ociregistry.ErrUnsupported)
}
