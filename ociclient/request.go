package ociclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// kind says what a request is about, so that an error response with no
// code in its body (as every HEAD response is) maps to the right error.
type kind int

const (
	kindOther kind = iota
	kindBlob
	kindManifest
	kindUpload
	kindTags
	kindReferrers
)

// request describes one HTTP request to the registry.
type request struct {
	method string
	url    string // absolute, or a path on the registry's host
	kind   kind
	header http.Header

	// body, when not nil, is sent and can be sent again on a retry.
	body []byte
	// stream, when not nil, is sent instead of body; a request with a
	// stream is never retried. A stream that is an io.Closer is closed
	// once the request is done with it, by the transport or, when the
	// transport never gets it, by do.
	stream io.Reader
	// length is the length of stream, or -1.
	length int64

	// idempotent says that the request may be retried.
	idempotent bool
}

// url returns the absolute URL of a path on the registry.
func (c *client) url(ctx context.Context, path string, query url.Values) string {
	u := *c.baseURL(ctx)
	u.Path = path
	if query != nil {
		u.RawQuery = query.Encode()
	}
	return u.String()
}

// do sends req, retrying it when it is idempotent, and returns the
// response when its status is 2xx. For any other status it returns the
// error that the response stands for, and closes its body.
func (c *client) do(ctx context.Context, req *request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		hreq, err := c.newRequest(ctx, req)
		if err != nil {
			// The transport closes the body of every request that
			// reaches http.Client.Do, even on errors (net/http's
			// RoundTripper contract); this one never got there. Its
			// stream is closed here so that a caller waiting for that
			// (PushBlob, to read the content again or to learn of a
			// bad length) is not left waiting. A stream is only ever
			// sent once, so this is the first attempt.
			closeStream(req)
			return nil, err
		}
		if req.stream != nil && hreq.Body == http.NoBody {
			// An empty stream is sent as http.NoBody, so the
			// transport does not close it either.
			closeStream(req)
		}
		start := time.Now()
		resp, err := c.http.Do(hreq)
		if c.logger != nil {
			c.logRequest(hreq, resp, err, time.Since(start), attempt)
		}
		canRetry := req.stream == nil && (req.idempotent || isConnRefused(err)) && attempt < c.opts.MaxRetries
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			if canRetry && isTransient(err) {
				if werr := c.wait(ctx, attempt, nil); werr != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		if resp.StatusCode < 300 {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if canRetry && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
			werr := c.wait(ctx, attempt, resp)
			if werr == nil {
				continue
			}
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
		}
		return nil, withRetryAfter(aboutRequest(hreq.URL, req.kind, responseError(resp, body, req.kind)), resp, c.opts.MaxRetryWait)
	}
}

// withRetryAfter adds to err, the error of resp, the wait that resp's
// Retry-After header asked for, when it has one: a 429 with no body says
// nothing else, and a caller told only "too many requests" cannot know
// that the wait was longer than it allows (maxWait, Options.MaxRetryWait).
func withRetryAfter(err error, resp *http.Response, maxWait time.Duration) error {
	ra, ok := retryAfter(resp.Header.Get("Retry-After"))
	if !ok {
		return err
	}
	if ra > maxWait {
		return fmt.Errorf("%w (the registry asks to retry after %v, longer than MaxRetryWait, %v)", err, ra, maxWait)
	}
	return fmt.Errorf("%w (the registry asks to retry after %v)", err, ra)
}

// closeStream closes req.stream when it is an io.Closer.
func closeStream(req *request) {
	if cl, ok := req.stream.(io.Closer); ok {
		cl.Close()
	}
}

// newRequest makes the http.Request for req.
func (c *client) newRequest(ctx context.Context, req *request) (*http.Request, error) {
	u := req.url
	if strings.HasPrefix(u, "/") {
		base := c.baseURL(ctx)
		u = base.Scheme + "://" + base.Host + u
	}
	var body io.Reader
	length := int64(0)
	switch {
	case req.stream != nil:
		body, length = req.stream, req.length
	case req.body != nil:
		body, length = bytes.NewReader(req.body), int64(len(req.body))
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, fmt.Errorf("ociclient: %w", err)
	}
	hreq.ContentLength = length
	if length == 0 {
		// An empty body must be sent as such, with Content-Length: 0
		// where the method has a body, rather than chunked.
		hreq.Body = http.NoBody
		hreq.GetBody = func() (io.ReadCloser, error) { return http.NoBody, nil }
	}
	for k, v := range req.header {
		hreq.Header[k] = v
	}
	hreq.Header.Set("User-Agent", c.opts.UserAgent)
	return hreq, nil
}

// wait sleeps before retry number attempt+1: for what resp's
// Retry-After asks, or for backoff(attempt). It returns an error when the
// context ends first or when the registry asks for a longer wait than
// Options.MaxRetryWait.
func (c *client) wait(ctx context.Context, attempt int, resp *http.Response) error {
	d := backoff(attempt, c.opts.MaxRetryWait)
	if resp != nil {
		if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			if ra > c.opts.MaxRetryWait {
				return fmt.Errorf("registry asks to retry after %v", ra)
			}
			d = ra
		}
	}
	d = min(d, c.opts.MaxRetryWait)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryBaseDelay is the longest first delay between retries, doubled
// after each one up to Options.MaxRetryWait. It is a variable so that
// tests need not wait.
var retryBaseDelay = 200 * time.Millisecond

// backoff returns the delay before retry number attempt+1: an
// exponential backoff, retryBaseDelay doubled attempt times but no more
// than maxWait, with equal jitter: half of it fixed and half random, so
// that clients that failed together do not all come back together, yet
// none comes back at once. The cap comes before the doubling can
// overflow (with a large Options.MaxRetries) and before the jitter, so
// that the jitter stays within the cap and rand.N always gets a positive
// bound.
func backoff(attempt int, maxWait time.Duration) time.Duration {
	d := maxWait
	// maxWait>>attempt is 0 once attempt reaches its width, so this
	// also holds for any attempt too large to shift by.
	if attempt >= 0 && retryBaseDelay <= maxWait>>attempt {
		d = retryBaseDelay << attempt
	}
	d = max(d, 0)
	return d/2 + rand.N(d-d/2+1)
}

// retryAfter parses a Retry-After header: a number of seconds or an HTTP
// date.
func retryAfter(h string) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64); err == nil && secs >= 0 {
		// A wait too long for a Duration is the longest one, not
		// one that overflows to a negative wait and retries at once.
		if secs > int64(math.MaxInt64/time.Second) {
			return math.MaxInt64, true
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// isTransient reports whether a request that failed with err is worth
// sending again: the connection broke or could not be made.
func isTransient(err error) bool {
	var uerr *url.Error
	if !errors.As(err, &uerr) {
		return false
	}
	// *url.Error is itself a net.Error: look inside it. A redirect
	// that could not be followed, or a credential that was refused,
	// will not get better.
	inner := uerr.Err
	var oerr *net.OpError
	return errors.As(inner, &oerr) || errors.Is(inner, io.EOF) || errors.Is(inner, io.ErrUnexpectedEOF) || errors.Is(inner, syscall.ECONNRESET)
}

// isConnRefused reports whether err says that no connection could be
// made, in which case the request reached no server and can be sent
// again whatever it is.
func isConnRefused(err error) bool {
	var oerr *net.OpError
	return errors.As(err, &oerr) && oerr.Op == "dial"
}

// logRequest writes a debug record for a request.
func (c *client) logRequest(req *http.Request, resp *http.Response, err error, d time.Duration, attempt int) {
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.String("url", req.URL.Redacted()),
		slog.Duration("duration", d),
	}
	if attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", attempt+1))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	c.logger.LogAttrs(context.Background(), slog.LevelDebug, "ociclient request", attrs...)
}

// repoPath returns the path of something in repo: /v2/<repo>/<rest>.
func repoPath(repo string, rest ...string) string {
	return "/v2/" + repo + "/" + strings.Join(rest, "/")
}
