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
	"MANIFEST_BLOB_UNKNOWN": http.StatusBadRequest,
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
// When msg is empty, Error() returns the code in lower case with spaces
// for underscores ("blob unknown" for BLOB_UNKNOWN), not the longer
// description of the specification's table, which only the package's
// own Err variables carry.
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

// IsNotFound reports whether err says that what was asked for does not
// exist: whether it Is ErrBlobUnknown, ErrManifestUnknown (which is also
// the answer for an unknown tag) or ErrNameUnknown. Such an error is an
// answer, after which it makes sense to look elsewhere (another
// repository, another registry) or to go on as if the thing were absent,
// unlike a failure to answer (a broken connection, ErrDenied,
// ErrUnauthorized) that looking elsewhere would not cure. An unknown
// upload session (ErrBlobUploadUnknown) is not counted: no caller looks
// for one elsewhere.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrBlobUnknown) ||
		errors.Is(err, ErrManifestUnknown) ||
		errors.Is(err, ErrNameUnknown)
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
	// Errors holds the errors, at least one in a valid body.
	Errors []WireError `json:"errors"`
}

// WireError is the JSON form of one error.
type WireError struct {
	// Code is one of the specification's codes, such as
	// "BLOB_UNKNOWN", or another that a registry made up.
	Code string `json:"code"`

	// Message describes the error for people.
	Message string `json:"message,omitempty"`

	// Detail holds the error's detail, any JSON value, as it was
	// sent.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// MarshalError returns the JSON body and HTTP status with which a server
// answers err. An err that holds no Error is sent with code UNKNOWN. An
// err that joins several errors holding an Error (see errors.Join) is
// sent as several errors, one for each, so that UnmarshalError gives
// back an error that Is each of their codes; the status is still
// HTTPStatus(err), that of the first.
func MarshalError(err error) (body []byte, status int) {
	status = HTTPStatus(err)
	body, _ = json.Marshal(WireErrors{Errors: wireErrors(err, "")})
	return body, status
}

// wireErrors returns the wire form of err, with prefix before each
// message. It follows single wrappers down to the first Error or join:
// the branches of a join of which at least two hold an Error become
// wire errors of their own, each with the text that the wrappers above
// the join put before it (such as "repo foo: ").
func wireErrors(err error, prefix string) []WireError {
	for e := err; e != nil; {
		if _, ok := e.(Error); ok {
			break
		}
		switch x := e.(type) {
		case interface{ Unwrap() []error }:
			branches := x.Unwrap()
			n := 0
			for _, b := range branches {
				var rerr Error
				if errors.As(b, &rerr) {
					n++
				}
			}
			if n < 2 {
				// One code or none: the whole text goes with it,
				// as for an error that joins nothing.
				e = nil
				continue
			}
			// The text that wrappers put before the join, when
			// they only prefixed it.
			pre := prefix
			if p, ok := strings.CutSuffix(err.Error(), e.Error()); ok {
				pre += p
			}
			var wes []WireError
			for _, b := range branches {
				if b != nil {
					wes = append(wes, wireErrors(b, pre)...)
				}
			}
			return wes
		case interface{ Unwrap() error }:
			e = x.Unwrap()
		default:
			e = nil
		}
	}
	we := WireError{Code: "UNKNOWN", Message: prefix + err.Error()}
	var rerr Error
	if errors.As(err, &rerr) {
		we.Code = rerr.Code()
		if d := rerr.Detail(); d != nil {
			if data, jerr := json.Marshal(d); jerr == nil {
				we.Detail = data
			}
		}
	}
	return []WireError{we}
}

// UnmarshalError returns the error that an HTTP response with the given
// status, header and body stands for: an *HTTPError wrapping the Errors
// of a body in the specification's JSON form (joined when there are
// several), or wrapping nothing when the body is not in that form. The
// body is decoded whatever the Content-Type says, since some registries
// send JSON as text/plain.
func UnmarshalError(statusCode int, header http.Header, body []byte) error {
	herr := &HTTPError{StatusCode: statusCode, Header: header, Body: body}
	// Each error is decoded on its own, and its message whatever its
	// type, so that one odd error or field (a message that is an
	// object, say) does not hide the codes of a body.
	var wire struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &wire) != nil || len(wire.Errors) == 0 {
		return herr
	}
	errs := make([]error, 0, len(wire.Errors))
	for _, raw := range wire.Errors {
		var we struct {
			Code    string          `json:"code"`
			Message json.RawMessage `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(raw, &we) != nil || we.Code == "" {
			continue
		}
		var msg string
		if json.Unmarshal(we.Message, &msg) != nil {
			msg = string(we.Message)
		}
		var detail any
		if len(we.Detail) > 0 {
			detail = we.Detail
		}
		errs = append(errs, NewError(msg, we.Code, detail))
	}
	herr.Err = errors.Join(errs...)
	return herr
}
