package ociregistry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Error is an error with one of the codes of the distribution
// specification. Two Errors match under errors.Is when their codes are
// equal, so errors.Is(err, ErrBlobUnknown) holds for any Error with code
// BLOB_UNKNOWN however it was made: by a backend, by NewError, or decoded
// from a server's response.
type Error interface {
	error

	// Code returns the error's code, such as "BLOB_UNKNOWN".
	Code() string

	// Detail returns the error's detail, or nil. It is sent on the wire
	// as the "detail" field, so it must marshal as JSON. Error() does
	// not include it.
	Detail() any
}

// The errors of the distribution specification, and the codes they carry.
var (
	ErrBlobUnknown         = NewError("blob unknown to registry", "BLOB_UNKNOWN", nil)
	ErrBlobUploadInvalid   = NewError("blob upload invalid", "BLOB_UPLOAD_INVALID", nil)
	ErrBlobUploadUnknown   = NewError("blob upload unknown to registry", "BLOB_UPLOAD_UNKNOWN", nil)
	ErrDigestInvalid       = NewError("provided digest did not match uploaded content", "DIGEST_INVALID", nil)
	ErrManifestBlobUnknown = NewError("manifest references a manifest or blob unknown to registry", "MANIFEST_BLOB_UNKNOWN", nil)
	ErrManifestInvalid     = NewError("manifest invalid", "MANIFEST_INVALID", nil)
	ErrManifestUnknown     = NewError("manifest unknown to registry", "MANIFEST_UNKNOWN", nil)
	ErrNameInvalid         = NewError("invalid repository name", "NAME_INVALID", nil)
	ErrNameUnknown         = NewError("repository name not known to registry", "NAME_UNKNOWN", nil)
	ErrSizeInvalid         = NewError("provided length did not match content length", "SIZE_INVALID", nil)
	ErrUnauthorized        = NewError("authentication required", "UNAUTHORIZED", nil)
	ErrDenied              = NewError("requested access to the resource is denied", "DENIED", nil)
	ErrUnsupported         = NewError("the operation is unsupported", "UNSUPPORTED", nil)
	ErrTooManyRequests     = NewError("too many requests", "TOOMANYREQUESTS", nil)

	// ErrRangeInvalid is not in the specification's table of codes; it
	// is answered with status 416 when a range or an upload offset is
	// out of bounds.
	ErrRangeInvalid = NewError("invalid content range", "RANGE_INVALID", nil)
)

// codeStatus holds the HTTP status that goes with each code.
var codeStatus = map[string]int{
	"BLOB_UNKNOWN":          http.StatusNotFound,
	"BLOB_UPLOAD_INVALID":   http.StatusBadRequest,
	"BLOB_UPLOAD_UNKNOWN":   http.StatusNotFound,
	"DIGEST_INVALID":        http.StatusBadRequest,
	"MANIFEST_BLOB_UNKNOWN": http.StatusNotFound,
	"MANIFEST_INVALID":      http.StatusBadRequest,
	"MANIFEST_UNKNOWN":      http.StatusNotFound,
	"NAME_INVALID":          http.StatusBadRequest,
	"NAME_UNKNOWN":          http.StatusNotFound,
	"SIZE_INVALID":          http.StatusBadRequest,
	"UNAUTHORIZED":          http.StatusUnauthorized,
	"DENIED":                http.StatusForbidden,
	"UNSUPPORTED":           http.StatusMethodNotAllowed,
	"TOOMANYREQUESTS":       http.StatusTooManyRequests,
	"RANGE_INVALID":         http.StatusRequestedRangeNotSatisfiable,
}

// NewError returns an Error with the given message, code and detail.
// Its message is the code's description when msg is empty.
func NewError(msg, code string, detail any) Error {
	return &registryError{code: code, message: msg, detail: detail}
}

type registryError struct {
	code    string
	message string
	detail  any
}

func (e *registryError) Code() string { return e.code }
func (e *registryError) Detail() any  { return e.detail }

func (e *registryError) Error() string {
	if e.message != "" {
		return e.message
	}
	return strings.ToLower(strings.ReplaceAll(e.code, "_", " "))
}

// Is reports whether target is an Error with the same code.
func (e *registryError) Is(target error) bool {
	t, ok := target.(Error)
	return ok && t.Code() == e.code
}

// HTTPStatus returns the HTTP status that goes with err: the StatusCode
// of an *HTTPError in its chain, else the status of the code of an Error
// in its chain, else 500.
func HTTPStatus(err error) int {
	var herr *HTTPError
	if errors.As(err, &herr) && herr.StatusCode != 0 {
		return herr.StatusCode
	}
	var rerr Error
	if errors.As(err, &rerr) {
		if s, ok := codeStatus[rerr.Code()]; ok {
			return s
		}
	}
	return http.StatusInternalServerError
}

// HTTPError is an error that came with, or must be sent with, an HTTP
// status. A client returns one for every error response, wrapping the
// Errors decoded from its body; a server uses one to choose a status that
// differs from the one its code implies (413 for a manifest that is too
// big, say).
type HTTPError struct {
	// StatusCode is the response's HTTP status.
	StatusCode int

	// Header holds the response's headers, when there was a response.
	Header http.Header

	// Body holds the start of the response's body, when there was one.
	Body []byte

	// Err is the error the response carried, if any.
	Err error
}

// NewHTTPError returns an *HTTPError with the given status that wraps err.
func NewHTTPError(err error, statusCode int) *HTTPError {
	return &HTTPError{StatusCode: statusCode, Err: err}
}

// Error describes the status and the wrapped error, or the status and
// the start of the body when there is no wrapped error.
func (e *HTTPError) Error() string {
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Err != nil {
		return e.Err.Error() + " (" + status + ")"
	}
	body := bytes.TrimSpace(e.Body)
	if len(body) > 200 {
		body = body[:200]
	}
	if len(body) == 0 || !utf8.Valid(body) {
		return "registry responded " + status
	}
	return "registry responded " + status + ": " + string(body)
}

// Unwrap returns the wrapped error.
func (e *HTTPError) Unwrap() error { return e.Err }

// WireErrors is the JSON form of errors in a registry's response body.
type WireErrors struct {
	Errors []WireError `json:"errors"`
}

// WireError is the JSON form of one error.
type WireError struct {
	Code    string          `json:"code"`
	Message string          `json:"message,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// MarshalError returns the JSON body and HTTP status with which a server
// answers err. An err that holds no Error is sent with code UNKNOWN.
func MarshalError(err error) (body []byte, status int) {
	status = HTTPStatus(err)
	we := WireError{Code: "UNKNOWN", Message: err.Error()}
	var rerr Error
	if errors.As(err, &rerr) {
		we.Code = rerr.Code()
		if d := rerr.Detail(); d != nil {
			if data, jerr := json.Marshal(d); jerr == nil {
				we.Detail = data
			}
		}
	}
	body, _ = json.Marshal(WireErrors{Errors: []WireError{we}})
	return body, status
}

// UnmarshalError returns the error that an HTTP response with the given
// status, header and body stands for: an *HTTPError wrapping the Errors
// of a body in the specification's JSON form (joined when there are
// several), or wrapping nothing when the body is not in that form. The
// body is decoded whatever the Content-Type says, since some registries
// send JSON as text/plain.
func UnmarshalError(statusCode int, header http.Header, body []byte) error {
	herr := &HTTPError{StatusCode: statusCode, Header: header, Body: body}
	var wire WireErrors
	if json.Unmarshal(body, &wire) != nil || len(wire.Errors) == 0 {
		return herr
	}
	errs := make([]error, 0, len(wire.Errors))
	for _, we := range wire.Errors {
		if we.Code == "" {
			continue
		}
		var detail any
		if len(we.Detail) > 0 {
			detail = we.Detail
		}
		errs = append(errs, NewError(we.Message, we.Code, detail))
	}
	herr.Err = errors.Join(errs...)
	return herr
}
