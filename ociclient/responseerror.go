package ociclient

import (
	"errors"
	"net/http"

	"github.com/ocireg/ociregistry"
)

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
