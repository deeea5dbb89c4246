package ociclient

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-quicktest/qt"
)

// TestUploadIDOtherHost checks that a server built on the client does
// not follow an upload ID that a caller made up to point at another
// host: the client would send its requests, with whatever they carry,
// anywhere the ID says. The other host hears nothing and the caller
// gets 404 BLOB_UPLOAD_UNKNOWN, while an ID that the stack handed out
// still resumes.
func TestUploadIDOtherHost(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		w.Header().Set("Range", "0-0")
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(other.Close)
	front := newStack(t, nil)

	forged := base64.RawURLEncoding.EncodeToString([]byte(other.URL + "/v2/foo/blobs/uploads/x"))
	for _, method := range []string{"GET", "PATCH", "PUT", "DELETE"} {
		t.Run(method, func(t *testing.T) {
			req, err := http.NewRequest(method, front+"/v2/foo/blobs/uploads/"+forged+"?digest=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", strings.NewReader(""))
			qt.Assert(t, qt.IsNil(err))
			resp, err := http.DefaultClient.Do(req)
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Check(t, qt.Equals(resp.StatusCode, http.StatusNotFound))
			qt.Check(t, qt.Equals(hits.Load(), int32(0)))
		})
	}

	resp, err := http.Post(front+"/v2/foo/blobs/uploads/", "", nil)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	resp, err = http.Get(front + resp.Header.Get("Location"))
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Check(t, qt.Equals(resp.StatusCode, http.StatusNoContent))
}
