package ociclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
)

// TestErrorsNameTheRequest checks that the errors of responses say what
// the request was about (the repository, and the tag or digest), which
// the registry's own message need not say and a HEAD's answer cannot,
// while they still Is the error the registry said.
func TestErrorsNameTheRequest(t *testing.T) {
	const dig = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b"
	// Like Distribution, the registry says what is unknown but not
	// which.
	c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			return
		}
		code := "MANIFEST_UNKNOWN"
		switch {
		case strings.Contains(req.URL.Path, "/blobs/"):
			code = "BLOB_UNKNOWN"
		case strings.HasSuffix(req.URL.Path, "/tags/list"):
			code = "NAME_UNKNOWN"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		if req.Method != "HEAD" {
			w.Write([]byte(`{"errors":[{"code":"` + code + `","message":"unknown"}]}`))
		}
	}), nil)
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
		want string
		is   error
	}{{
		name: "GetTag",
		call: func() error { _, err := c.GetTag(ctx, "team/app", "v1"); return err },
		want: "manifest team/app:v1: ",
		is:   ociregistry.ErrManifestUnknown,
	}, {
		name: "ResolveTag", // HEAD: no body
		call: func() error { _, err := c.ResolveTag(ctx, "team/app", "v1"); return err },
		want: "manifest team/app:v1: ",
		is:   ociregistry.ErrManifestUnknown,
	}, {
		name: "GetManifest",
		call: func() error { _, err := c.GetManifest(ctx, "team/app", dig); return err },
		want: "manifest team/app@" + dig + ": ",
		is:   ociregistry.ErrManifestUnknown,
	}, {
		name: "GetBlob",
		call: func() error { _, err := c.GetBlob(ctx, "team/app", dig); return err },
		want: "blob team/app@" + dig + ": ",
		is:   ociregistry.ErrBlobUnknown,
	}, {
		name: "ResolveBlob",
		call: func() error { _, err := c.ResolveBlob(ctx, "team/app", dig); return err },
		want: "blob team/app@" + dig + ": ",
		is:   ociregistry.ErrBlobUnknown,
	}, {
		name: "Tags",
		call: func() error {
			for _, err := range c.Tags(ctx, "team/app", "") {
				return err
			}
			return nil
		},
		want: "tags of team/app: ",
		is:   ociregistry.ErrNameUnknown,
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			err := test.call()
			qt.Assert(t, qt.IsNotNil(err))
			qt.Check(t, qt.StringContains(err.Error(), test.want))
			qt.Check(t, qt.ErrorIs(err, test.is))
			var herr *ociregistry.HTTPError
			qt.Check(t, qt.IsTrue(errors.As(err, &herr)))
			qt.Check(t, qt.Equals(ociregistry.HTTPStatus(err), http.StatusNotFound))
		})
	}
}
