package ociclient

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ocireg/ociregistry"
)

// aboutRequest returns err, the error of a response to a request for u
// about k, prefixed with what the request was about, such as "manifest
// app:v1" or "blob app@sha256:…": a registry's message alone ("manifest
// unknown") does not say which, and the caller that gets it may be far
// from the request (a proxy serving it on, a copy of many images).
func aboutRequest(u *url.URL, k kind, err error) error {
	_, rest, ok := strings.Cut(u.Path, "/v2/")
	if !ok {
		return err
	}
	cut := func(sep string) (repo, ref string, ok bool) {
		i := strings.LastIndex(rest, sep)
		if i <= 0 {
			return "", "", false
		}
		return rest[:i], rest[i+len(sep):], true
	}
	at := func(repo, ref string) string {
		if strings.Contains(ref, ":") {
			return repo + "@" + ref
		}
		return repo + ":" + ref
	}
	var what string
	switch k {
	case kindManifest:
		if repo, ref, ok := cut("/manifests/"); ok {
			what = "manifest " + at(repo, ref)
		}
	case kindBlob:
		if repo, ref, ok := cut("/blobs/"); ok {
			what = "blob " + at(repo, ref)
		}
	case kindUpload:
		if repo, _, ok := cut("/blobs/uploads"); ok {
			what = "upload to " + repo
		}
	case kindTags:
		if repo, _, ok := cut("/tags/list"); ok {
			what = "tags of " + repo
		}
	case kindReferrers:
		if repo, ref, ok := cut("/referrers/"); ok {
			what = "referrers of " + at(repo, ref)
		}
	}
	if what == "" {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// responseError returns the error for an error response with the given
// body: the errors in its body when it holds the specification's JSON
// (whatever its Content-Type), or else an error chosen from the status
// and what the request was about.
func responseError(resp *http.Response, body []byte, k kind) error {
	err := ociregistry.UnmarshalError(resp.StatusCode, resp.Header, body)
	herr, ok := err.(*ociregistry.HTTPError)
	if !ok {
		return err
	}
	if herr.Err == nil {
		herr.Err = statusError(resp.StatusCode, k)
		return herr
	}
	if resp.StatusCode == http.StatusNotFound && (k == kindBlob || k == kindManifest) && errors.Is(herr.Err, ociregistry.ErrNameUnknown) {
		// Registries such as Distribution say NAME_UNKNOWN for a blob
		// or manifest in a repository that does not exist. The blob
		// or manifest is unknown too, and callers look for that.
		herr.Err = &alsoError{err: herr.Err, also: statusError(resp.StatusCode, k)}
	}
	return herr
}

// alsoError is err that also Is another error, without saying so in its
// message.
type alsoError struct {
	err, also error
}

func (e *alsoError) Error() string   { return e.err.Error() }
func (e *alsoError) Unwrap() []error { return []error{e.err, e.also} }

// statusError returns the error that a status stands for in a response
// to a request about k, or nil when it stands for none in particular.
func statusError(status int, k kind) error {
	switch status {
	case http.StatusNotFound:
		switch k {
		case kindBlob:
			return ociregistry.ErrBlobUnknown
		case kindManifest:
			return ociregistry.ErrManifestUnknown
		case kindUpload:
			return ociregistry.ErrBlobUploadUnknown
		}
		return ociregistry.ErrNameUnknown
	case http.StatusBadRequest:
		switch k {
		case kindManifest:
			return ociregistry.ErrManifestInvalid
		case kindUpload:
			return ociregistry.ErrBlobUploadInvalid
		}
	case http.StatusUnauthorized:
		return ociregistry.ErrUnauthorized
	case http.StatusForbidden:
		return ociregistry.ErrDenied
	case http.StatusTooManyRequests:
		return ociregistry.ErrTooManyRequests
	case http.StatusRequestedRangeNotSatisfiable:
		return ociregistry.ErrRangeInvalid
	case http.StatusMethodNotAllowed:
		return ociregistry.ErrUnsupported
	}
	return nil
}
