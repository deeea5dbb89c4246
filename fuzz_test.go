package ociregistry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/ocireg/ociregistry"
)

// FuzzUnmarshalError checks what a client makes of any error response:
// an *HTTPError with the response's status and body, that Is every code
// of a body in the specification's form, and that a server passing it
// on (MarshalError) sends with the same status and the same codes in
// the same order, in a body that decodes again.
func FuzzUnmarshalError(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{404, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry","detail":{"digest":"sha256:abc"}}]}`},
		{400, `{"errors":[{"code":"MANIFEST_INVALID"},{"code":"DIGEST_INVALID","message":"x","detail":"y"}]}`},
		{401, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"foo","Action":"pull"}]}]}`},
		{429, `{"errors":[{"code":"TOOMANYREQUESTS","detail":null}]}`},
		{500, `{"errors":[]}`},
		{503, `{"errors":[{"code":""},{"message":"no code"}]}`},
		{502, `<html>bad gateway</html>`},
		{403, `{"errors":[{"code":"DENIED","message":"\xff\xfe"}]}`},
		{400, `{"errors":[{"code":"X","detail":{"a":[1,2,{"b":null}]}}], "extra": true}`},
		{0, `{"errors":[{"code":"NAME_UNKNOWN"}]}`},
		{200, ``},
		{404, `{"errors":null}`},
		{404, `{"errors":[null,{"code":"MANIFEST_UNKNOWN"}]}`},
		{-1, `{"Errors":[{"Code":"SIZE_INVALID"}]}`},
		{400, `{"errors":[1,"x",{"code":5},{"code":"DENIED","message":{"text":"no"}}]}`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := ociregistry.UnmarshalError(status, http.Header{"X": {"y"}}, body)
		var herr *ociregistry.HTTPError
		if !errors.As(err, &herr) || herr != err {
			t.Fatalf("UnmarshalError returned %T %v, not an *HTTPError", err, err)
		}
		if herr.StatusCode != status || !bytes.Equal(herr.Body, body) || herr.Header.Get("X") != "y" {
			t.Fatalf("UnmarshalError lost the response: status %d, body %q", herr.StatusCode, herr.Body)
		}
		if err.Error() == "" {
			t.Fatalf("UnmarshalError(%d, %q) has an empty message", status, body)
		}
		codes := wireCodes(body)
		if len(codes) == 0 {
			if herr.Err != nil {
				t.Fatalf("UnmarshalError(%d, %q) found an error %v in a body with no codes", status, body, herr.Err)
			}
		} else {
			for _, c := range codes {
				if !errors.Is(err, ociregistry.NewError("", c, nil)) {
					t.Fatalf("UnmarshalError(%d, %q) = %v, which is not %s", status, body, err, c)
				}
			}
		}
		if status != 0 {
			if got := ociregistry.HTTPStatus(err); got != status {
				t.Fatalf("HTTPStatus(UnmarshalError(%d, %q)) = %d", status, body, got)
			}
		}

		// Passed on by a server.
		body2, status2 := ociregistry.MarshalError(err)
		if status != 0 && status2 != status {
			t.Fatalf("MarshalError of a %d response answers %d", status, status2)
		}
		if !json.Valid(body2) {
			t.Fatalf("MarshalError gave invalid JSON %q", body2)
		}
		codes2 := wireCodes(body2)
		if len(codes2) == 0 {
			t.Fatalf("MarshalError gave a body with no codes: %q", body2)
		}
		if len(codes) > 0 && !slices.Equal(codes, codes2) {
			t.Fatalf("codes %q came back from MarshalError as %q (body %q)", codes, codes2, body2)
		}
		if len(codes) == 0 && !slices.Equal(codes2, []string{"UNKNOWN"}) {
			t.Fatalf("a response with no codes was passed on with codes %q", codes2)
		}
		err2 := ociregistry.UnmarshalError(status2, nil, body2)
		for _, c := range codes {
			if !errors.Is(err2, ociregistry.NewError("", c, nil)) {
				t.Fatalf("passed on twice, %v is no longer %s", err2, c)
			}
		}
	})
}

// wireCodes returns the non-empty string codes of the errors of a body
// in the specification's form, decoded independently of UnmarshalError:
// an error that is not an object with a string code has none, and does
// not hide the codes of the others.
func wireCodes(body []byte) []string {
	var wire struct {
		Errors []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &wire) != nil {
		return nil
	}
	var codes []string
	for _, raw := range wire.Errors {
		var e struct {
			Code string `json:"code"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Code != "" {
			codes = append(codes, e.Code)
		}
	}
	return codes
}
