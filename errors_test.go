package ociregistry_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

var allErrors = []struct {
	err    ociregistry.Error
	code   string
	status int
}{
	{ociregistry.ErrBlobUnknown, "BLOB_UNKNOWN", http.StatusNotFound},
	{ociregistry.ErrBlobUploadInvalid, "BLOB_UPLOAD_INVALID", http.StatusBadRequest},
	{ociregistry.ErrBlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	{ociregistry.ErrDigestInvalid, "DIGEST_INVALID", http.StatusBadRequest},
	{ociregistry.ErrManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	{ociregistry.ErrManifestInvalid, "MANIFEST_INVALID", http.StatusBadRequest},
	{ociregistry.ErrManifestUnknown, "MANIFEST_UNKNOWN", http.StatusNotFound},
	{ociregistry.ErrNameInvalid, "NAME_INVALID", http.StatusBadRequest},
	{ociregistry.ErrNameUnknown, "NAME_UNKNOWN", http.StatusNotFound},
	{ociregistry.ErrSizeInvalid, "SIZE_INVALID", http.StatusBadRequest},
	{ociregistry.ErrUnauthorized, "UNAUTHORIZED", http.StatusUnauthorized},
	{ociregistry.ErrDenied, "DENIED", http.StatusForbidden},
	{ociregistry.ErrUnsupported, "UNSUPPORTED", http.StatusMethodNotAllowed},
	{ociregistry.ErrTooManyRequests, "TOOMANYREQUESTS", http.StatusTooManyRequests},
	{ociregistry.ErrRangeInvalid, "RANGE_INVALID", http.StatusRequestedRangeNotSatisfiable},
}

func TestErrorCodesAndStatus(t *testing.T) {
	for _, test := range allErrors {
		t.Run(test.code, func(t *testing.T) {
			qt.Assert(t, qt.Equals(test.err.Code(), test.code))
			qt.Assert(t, qt.IsNil(test.err.Detail()))
			qt.Assert(t, qt.Not(qt.Equals(test.err.Error(), "")))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(test.err), test.status))

			wrapped := fmt.Errorf("doing something: %w", test.err)
			qt.Assert(t, qt.ErrorIs(wrapped, test.err))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(wrapped), test.status))
			qt.Assert(t, qt.StringContains(wrapped.Error(), test.err.Error()))

			// Any Error with the same code matches, whatever its
			// message and detail.
			other := ociregistry.NewError("something else", test.code, map[string]int{"n": 1})
			qt.Assert(t, qt.ErrorIs(other, test.err))
			qt.Assert(t, qt.ErrorIs(fmt.Errorf("x: %w", other), test.err))
			qt.Assert(t, qt.ErrorIs(test.err, other))

			// No other code matches.
			for _, o := range allErrors {
				if o.code != test.code {
					qt.Assert(t, qt.IsFalse(errors.Is(wrapped, o.err)), qt.Commentf("%s is %s", test.code, o.code))
				}
			}
		})
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	seen := make(map[string]bool)
	for _, test := range allErrors {
		qt.Assert(t, qt.IsFalse(seen[test.code]))
		seen[test.code] = true
	}
}

func TestNewError(t *testing.T) {
	err := ociregistry.NewError("the message", "SOME_CODE", []string{"a", "b"})
	qt.Assert(t, qt.Equals(err.Error(), "the message"))
	qt.Assert(t, qt.Equals(err.Code(), "SOME_CODE"))
	qt.Assert(t, qt.DeepEquals(err.Detail(), any([]string{"a", "b"})))
	// An unknown code has status 500.
	qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), http.StatusInternalServerError))

	// With no message, the code describes the error.
	err = ociregistry.NewError("", "BLOB_UNKNOWN", nil)
	qt.Assert(t, qt.Equals(err.Error(), "blob unknown"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

	// A plain error matches no Error.
	qt.Assert(t, qt.IsFalse(errors.Is(errors.New("BLOB_UNKNOWN"), ociregistry.ErrBlobUnknown)))
}

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"Plain", errors.New("oops"), http.StatusInternalServerError},
		{"Error", ociregistry.ErrNameUnknown, http.StatusNotFound},
		{"HTTPErrorWins", ociregistry.NewHTTPError(ociregistry.ErrManifestInvalid, http.StatusRequestEntityTooLarge), http.StatusRequestEntityTooLarge},
		{"WrappedHTTPError", fmt.Errorf("x: %w", ociregistry.NewHTTPError(nil, http.StatusBadGateway)), http.StatusBadGateway},
		{"HTTPErrorWithoutStatus", &ociregistry.HTTPError{Err: ociregistry.ErrDenied}, http.StatusForbidden},
		{"Joined", errors.Join(errors.New("a"), ociregistry.ErrTooManyRequests), http.StatusTooManyRequests},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(test.err), test.want))
		})
	}
}

func TestHTTPError(t *testing.T) {
	herr := ociregistry.NewHTTPError(ociregistry.ErrBlobUnknown, http.StatusNotFound)
	qt.Assert(t, qt.ErrorIs(herr, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.Equals(herr.Error(), "blob unknown to registry (404 Not Found)"))

	tests := []struct {
		name string
		body string
		want string
	}{
		{"NoBody", "", "registry responded 502 Bad Gateway"},
		{"TextBody", "  upstream down\n", "registry responded 502 Bad Gateway: upstream down"},
		{"LongBody", strings.Repeat("x", 300), "registry responded 502 Bad Gateway: " + strings.Repeat("x", 200)},
		{"BinaryBody", "\xff\xfe", "registry responded 502 Bad Gateway"},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			herr := &ociregistry.HTTPError{StatusCode: http.StatusBadGateway, Body: []byte(test.body)}
			qt.Assert(t, qt.Equals(herr.Error(), test.want))
			qt.Assert(t, qt.IsNil(herr.Unwrap()))
		})
	}
}

func TestMarshalErrorRoundTrip(t *testing.T) {
	for _, test := range allErrors {
		t.Run(test.code, func(t *testing.T) {
			err := fmt.Errorf("repo foo: %w", test.err)
			body, status := ociregistry.MarshalError(err)
			qt.Assert(t, qt.Equals(status, test.status))
			var wire ociregistry.WireErrors
			qt.Assert(t, qt.IsNil(json.Unmarshal(body, &wire)))
			qt.Assert(t, qt.HasLen(wire.Errors, 1))
			qt.Assert(t, qt.Equals(wire.Errors[0].Code, test.code))
			qt.Assert(t, qt.Equals(wire.Errors[0].Message, err.Error()))

			got := ociregistry.UnmarshalError(status, http.Header{"X": {"y"}}, body)
			qt.Assert(t, qt.ErrorIs(got, test.err))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(got), test.status))
			var herr *ociregistry.HTTPError
			qt.Assert(t, qt.ErrorAs(got, &herr))
			qt.Assert(t, qt.Equals(herr.Header.Get("X"), "y"))
			qt.Assert(t, qt.DeepEquals(herr.Body, body))
			qt.Assert(t, qt.StringContains(got.Error(), "repo foo"))
		})
	}
}

func TestMarshalErrorDetail(t *testing.T) {
	err := ociregistry.NewError("too big", "SIZE_INVALID", map[string]int{"max": 10})
	body, status := ociregistry.MarshalError(err)
	qt.Assert(t, qt.Equals(status, http.StatusBadRequest))
	qt.Assert(t, qt.JSONEquals(body, map[string]any{
		"errors": []any{map[string]any{"code": "SIZE_INVALID", "message": "too big", "detail": map[string]any{"max": 10}}},
	}))
	got := ociregistry.UnmarshalError(status, nil, body)
	var rerr ociregistry.Error
	qt.Assert(t, qt.ErrorAs(got, &rerr))
	qt.Assert(t, qt.Equals(rerr.Code(), "SIZE_INVALID"))
	qt.Assert(t, qt.JSONEquals([]byte(rerr.Detail().(json.RawMessage)), map[string]int{"max": 10}))

	// A detail that does not marshal is left out.
	body, _ = ociregistry.MarshalError(ociregistry.NewError("x", "DENIED", func() {}))
	qt.Assert(t, qt.Equals(string(body), `{"errors":[{"code":"DENIED","message":"x"}]}`))
}

func TestMarshalErrorJoined(t *testing.T) {
	// Each branch of a join that holds an Error goes on the wire as
	// its own error, with the text the wrappers put before the join.
	err := fmt.Errorf("repo foo: %w", errors.Join(
		fmt.Errorf("bad name: %w", ociregistry.ErrNameInvalid),
		ociregistry.NewError("bad digest", "DIGEST_INVALID", map[string]int{"n": 1}),
		errors.New("plain"),
	))
	body, status := ociregistry.MarshalError(err)
	// The status is that of the first Error.
	qt.Assert(t, qt.Equals(status, http.StatusBadRequest))
	qt.Assert(t, qt.JSONEquals(body, map[string]any{
		"errors": []any{
			map[string]any{"code": "NAME_INVALID", "message": "repo foo: bad name: invalid repository name"},
			map[string]any{"code": "DIGEST_INVALID", "message": "repo foo: bad digest", "detail": map[string]any{"n": 1}},
			map[string]any{"code": "UNKNOWN", "message": "repo foo: plain"},
		},
	}))
	got := ociregistry.UnmarshalError(status, nil, body)
	qt.Assert(t, qt.ErrorIs(got, ociregistry.ErrNameInvalid))
	qt.Assert(t, qt.ErrorIs(got, ociregistry.ErrDigestInvalid))
	qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(got), http.StatusBadRequest))
	// Marshaling what was decoded sends the same errors again, as a
	// proxy that passes an upstream's error on does.
	body2, _ := ociregistry.MarshalError(got)
	var wire ociregistry.WireErrors
	qt.Assert(t, qt.IsNil(json.Unmarshal(body2, &wire)))
	qt.Assert(t, qt.HasLen(wire.Errors, 3))
	qt.Assert(t, qt.Equals(wire.Errors[1].Message, "repo foo: bad digest"))
	qt.Assert(t, qt.JSONEquals([]byte(wire.Errors[1].Detail), map[string]int{"n": 1}))

	// A join with a single Error is sent as one error with the whole
	// text, as before joins were split.
	err = errors.Join(errors.New("context"), ociregistry.ErrBlobUnknown)
	body, status = ociregistry.MarshalError(err)
	qt.Assert(t, qt.Equals(status, http.StatusNotFound))
	qt.Assert(t, qt.JSONEquals(body, map[string]any{
		"errors": []any{map[string]any{"code": "BLOB_UNKNOWN", "message": "context\nblob unknown to registry"}},
	}))
}

func TestMarshalErrorPlain(t *testing.T) {
	body, status := ociregistry.MarshalError(io.ErrUnexpectedEOF)
	qt.Assert(t, qt.Equals(status, http.StatusInternalServerError))
	qt.Assert(t, qt.Equals(string(body), `{"errors":[{"code":"UNKNOWN","message":"unexpected EOF"}]}`))
}

func TestUnmarshalError(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		wantIs    []error
		wantNotIs []error
		wantErr   bool // whether an Error is wrapped
	}{{
		name:    "Single",
		status:  404,
		body:    `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"no such manifest"}]}`,
		wantIs:  []error{ociregistry.ErrManifestUnknown},
		wantErr: true,
	}, {
		name:    "Several",
		status:  400,
		body:    `{"errors":[{"code":"NAME_INVALID"},{"code":"DIGEST_INVALID","message":"bad digest"}]}`,
		wantIs:  []error{ociregistry.ErrNameInvalid, ociregistry.ErrDigestInvalid},
		wantErr: true,
	}, {
		name:      "NotJSON",
		status:    502,
		body:      `<html>bad gateway</html>`,
		wantNotIs: []error{ociregistry.ErrBlobUnknown},
	}, {
		name:   "EmptyErrors",
		status: 500,
		body:   `{"errors":[]}`,
	}, {
		name:   "OtherJSON",
		status: 401,
		body:   `{"details":"unauthorized"}`,
	}, {
		name:    "MissingCodeSkipped",
		status:  403,
		body:    `{"errors":[{"message":"no code"},{"code":"DENIED"}]}`,
		wantIs:  []error{ociregistry.ErrDenied},
		wantErr: true,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			err := ociregistry.UnmarshalError(test.status, nil, []byte(test.body))
			var herr *ociregistry.HTTPError
			qt.Assert(t, qt.ErrorAs(err, &herr))
			qt.Assert(t, qt.Equals(herr.StatusCode, test.status))
			qt.Assert(t, qt.Equals(ociregistry.HTTPStatus(err), test.status))
			for _, want := range test.wantIs {
				qt.Assert(t, qt.ErrorIs(err, want))
			}
			for _, notWant := range test.wantNotIs {
				qt.Assert(t, qt.IsFalse(errors.Is(err, notWant)))
			}
			var rerr ociregistry.Error
			qt.Assert(t, qt.Equals(errors.As(err, &rerr), test.wantErr))
		})
	}
}

func TestIsNotFound(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{ociregistry.ErrBlobUnknown, true},
		{ociregistry.ErrManifestUnknown, true},
		{ociregistry.ErrNameUnknown, true},
		{fmt.Errorf("wrapped: %w", ociregistry.ErrManifestUnknown), true},
		{ociregistry.NewError("no such tag", "MANIFEST_UNKNOWN", nil), true},
		{ociregistry.ErrBlobUploadUnknown, false},
		{ociregistry.ErrManifestBlobUnknown, false},
		{ociregistry.ErrDenied, false},
		{ociregistry.ErrUnauthorized, false},
		{fmt.Errorf("connection refused"), false},
		{nil, false},
	}
	for _, test := range tests {
		qt.Check(t, qt.Equals(ociregistry.IsNotFound(test.err), test.want), qt.Commentf("%v", test.err))
	}
}
