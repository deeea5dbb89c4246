package ociclient

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
)

// TestRetryAfterTooLong checks that a 429 whose Retry-After is longer
// than Options.MaxRetryWait is not retried and that its error keeps the
// registry's message and says the wait it asked for.
func TestRetryAfterTooLong(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"WithMessage", `{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit: 100 per hour"}]}`, []string{"pull rate limit: 100 per hour", "retry after 1h0m0s, longer than MaxRetryWait, 2s"}},
		{"WithoutBody", "", []string{"too many requests", "retry after 1h0m0s, longer than MaxRetryWait, 2s"}},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			n := 0
			c := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				n++
				w.Header().Set("Retry-After", "3600")
				if test.body != "" {
					w.Header().Set("Content-Type", "application/json")
				}
				w.WriteHeader(http.StatusTooManyRequests)
				w.Write([]byte(test.body))
			}), &Options{MaxRetryWait: 2 * time.Second})
			_, err := c.GetTag(context.Background(), "a/b", "latest")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
			qt.Check(t, qt.Equals(ociregistry.HTTPStatus(err), http.StatusTooManyRequests))
			for _, w := range test.want {
				qt.Check(t, qt.StringContains(err.Error(), w))
			}
			qt.Check(t, qt.Equals(n, 1))
		})
	}
}
