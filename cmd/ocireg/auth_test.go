package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"golang.org/x/crypto/bcrypt"

	"github.com/ocireg/ociregistry/ocifilter"
	"github.com/ocireg/ociregistry/ocimem"
)

// TestAuthUnauthorizedHead checks that a HEAD refused for want of
// credentials gets the headers of the GET's answer, as ociserver's error
// answers do: the status, WWW-Authenticate, Content-Type and the
// Content-Length of the body that a GET gets.
func TestAuthUnauthorizedHead(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	qt.Assert(t, qt.IsNil(err))
	file := filepath.Join(t.TempDir(), "htpasswd")
	qt.Assert(t, qt.IsNil(os.WriteFile(file, []byte("alice:"+string(hash)+"\n"), 0o666)))
	users, err := loadHtpasswd(file)
	qt.Assert(t, qt.IsNil(err))
	h, _ := newHandler(ocimem.New(), &authenticator{users: users}, nil, nil, slog.New(slog.DiscardHandler), newMetrics(), serverLimits{maxUploads: -1}, false)
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, user := range []string{"", "alice"} { // none, and a wrong password
		get, err := http.NewRequest("GET", srv.URL+"/v2/app/manifests/v1", nil)
		qt.Assert(t, qt.IsNil(err))
		if user != "" {
			get.SetBasicAuth(user, "wrong")
		}
		head := get.Clone(get.Context())
		head.Method = "HEAD"
		getResp, err := http.DefaultClient.Do(get)
		qt.Assert(t, qt.IsNil(err))
		body, err := io.ReadAll(getResp.Body)
		getResp.Body.Close()
		qt.Assert(t, qt.IsNil(err))
		headResp, err := http.DefaultClient.Do(head)
		qt.Assert(t, qt.IsNil(err))
		headResp.Body.Close()

		qt.Check(t, qt.Equals(getResp.StatusCode, http.StatusUnauthorized))
		qt.Check(t, qt.Equals(headResp.StatusCode, http.StatusUnauthorized))
		qt.Check(t, qt.Equals(headResp.Header.Get("WWW-Authenticate"), getResp.Header.Get("WWW-Authenticate")))
		qt.Check(t, qt.Equals(headResp.Header.Get("Content-Type"), "application/json"))
		qt.Check(t, qt.Equals(getResp.Header.Get("Content-Type"), "application/json"))
		qt.Check(t, qt.Equals(headResp.Header.Get("Content-Length"), strconv.Itoa(len(body))), qt.Commentf("user %q", user))
	}
}

// TestAuthUploadsBoundedTogether checks that --max-uploads bounds the
// uploads of all users together, not those of each user: a server whose
// clients may each name another user holds no more uploads than that.
func TestAuthUploadsBoundedTogether(t *testing.T) {
	users := tokenUsers(t, "alice", "bob")
	rules := []accessRule{{users: []string{"*"}, patterns: []string{"**"}, access: []ocifilter.Access{ocifilter.AccessRead, ocifilter.AccessWrite}}}
	h, _ := newHandler(ocimem.New(), users, rules, nil, slog.New(slog.DiscardHandler), newMetrics(), serverLimits{maxUploads: 2, uploadTimeout: time.Hour}, false)
	srv := httptest.NewServer(h)
	defer srv.Close()
	start := func(user string) int {
		req, err := http.NewRequest("POST", srv.URL+"/v2/"+user+"/app/blobs/uploads/", nil)
		qt.Assert(t, qt.IsNil(err))
		req.SetBasicAuth(user, "pw-"+user)
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		return resp.StatusCode
	}
	qt.Assert(t, qt.Equals(start("alice"), http.StatusAccepted))
	qt.Assert(t, qt.Equals(start("alice"), http.StatusAccepted))
	qt.Assert(t, qt.Equals(start("bob"), http.StatusTooManyRequests))
}
