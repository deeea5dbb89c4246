package conformance

import (
	"fmt"
	"net/http"
	"runtime"
	"testing"

	"github.com/go-quicktest/qt"
)

// recorder is a testing.TB that records failures and skips instead of
// reporting them, so that a check can be shown to fail.
type recorder struct {
	testing.TB
	failed, skipped bool
	msgs            []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = true
	runtime.Goexit()
}

// run calls f with r on a goroutine of its own, since Fatalf and Skipf
// end the goroutine they are called on.
func (r *recorder) run(f func(testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
}

// TestCheckTagDelete checks that a refused tag DELETE fails unless the
// options declare that the registry does not delete tags, and is never a
// skip.
func TestCheckTagDelete(t *testing.T) {
	unsupported := `{"errors":[{"code":"UNSUPPORTED","message":"tags are not deleted here"}]}`
	denied := `{"errors":[{"code":"DENIED","message":"no"}]}`
	tests := []struct {
		name        string
		unsupported bool
		status      int
		body        string
		wantDeleted bool
		wantFail    bool
	}{
		{"Deleted", false, http.StatusAccepted, "", true, false},
		{"RefusedWith405", false, http.StatusMethodNotAllowed, unsupported, false, true},
		{"RefusedWith400", false, http.StatusBadRequest, unsupported, false, true},
		{"DeniedWhenDeclared", false, http.StatusForbidden, denied, false, true},
		{"DeclaredRefused405", true, http.StatusMethodNotAllowed, unsupported, false, false},
		{"DeclaredRefused405NoBody", true, http.StatusMethodNotAllowed, "", false, false},
		{"DeclaredRefused400", true, http.StatusBadRequest, unsupported, false, false},
		{"DeclaredRefused400OtherCode", true, http.StatusBadRequest, denied, false, true},
		{"DeclaredButDeleted", true, http.StatusAccepted, "", false, true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			s := &suite{opts: Options{TagDeleteUnsupported: test.unsupported}}
			header := http.Header{}
			if test.body != "" {
				header.Set("Content-Type", "application/json")
			}
			resp := &response{method: "DELETE", url: "/v2/foo/manifests/tag-a", reqHdr: http.Header{}, status: test.status, header: header, body: []byte(test.body)}
			rec := &recorder{TB: t}
			deleted := false
			rec.run(func(tb testing.TB) { deleted = s.checkTagDelete(tb, resp) })
			qt.Check(t, qt.Equals(rec.failed, test.wantFail), qt.Commentf("messages %q", rec.msgs))
			qt.Check(t, qt.IsFalse(rec.skipped))
			if !test.wantFail {
				qt.Check(t, qt.Equals(deleted, test.wantDeleted))
			}
		})
	}
}
