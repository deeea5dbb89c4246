package ociclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ocireg/ociregistry"
)

// maxListBody bounds the size of one page of a listing.
const maxListBody = 16 << 20

// Repositories yields the registry's repositories after startAfter, page
// by page through the catalog API's Link headers.
func (c *client) Repositories(ctx context.Context, startAfter string) iter.Seq2[string, error] {
	return c.listNames(ctx, "/v2/_catalog", kindOther, startAfter, ociregistry.IsValidRepository, func(data []byte) ([]string, error) {
		var body struct {
			Repositories []string `json:"repositories"`
		}
		err := json.Unmarshal(data, &body)
		return body.Repositories, err
	})
}

// Tags yields the tags in repo after startAfter, page by page through
// Link headers. It yields an error that Is ociregistry.ErrNameUnknown
// when repo does not exist.
func (c *client) Tags(ctx context.Context, repo, startAfter string) iter.Seq2[string, error] {
	if err := ociregistry.CheckRepository(repo); err != nil {
		return ociregistry.ErrorSeq[string](err)
	}
	return c.listNames(ctx, repoPath(repo, "tags", "list"), kindTags, startAfter, func(tag string) bool { return ociregistry.CheckTag(tag) == nil }, func(data []byte) ([]string, error) {
		var body struct {
			Tags []string `json:"tags"`
		}
		err := json.Unmarshal(data, &body)
		return body.Tags, err
	})
}

// listNames yields the names in the pages of a listing at path, starting
// after startAfter. Names that do not sort after the last one yielded are
// skipped, which copes with registries that ignore n or last, and so are
// names that valid refuses: no repository or tag can have them, and a
// caller would take them for paths.
func (c *client) listNames(ctx context.Context, path string, k kind, startAfter string, valid func(string) bool, parse func([]byte) ([]string, error)) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		q := url.Values{"n": {strconv.Itoa(c.opts.ListPageSize)}}
		if startAfter != "" {
			q.Set("last", startAfter)
		}
		next := c.url(ctx, path, q)
		last := startAfter
		for next != "" {
			data, link, linkErr, err := c.getPage(ctx, next, k)
			if err != nil {
				yield("", err)
				return
			}
			names, err := parse(data)
			if err != nil {
				yield("", fmt.Errorf("listing %s: bad response: %v", path, err))
				return
			}
			// Some registries send a page in no particular order;
			// the filter below needs it sorted.
			slices.Sort(names)
			progress := false
			for _, name := range names {
				if last != "" && name <= last {
					continue
				}
				progress = true
				last = name
				if !valid(name) {
					continue
				}
				if !yield(name, nil) {
					return
				}
			}
			if !progress {
				// A page with nothing new would loop for ever.
				return
			}
			if linkErr != nil {
				yield("", linkErr)
				return
			}
			next = link
		}
	}
}

// getPage GETs one page of a listing, and returns its body and the URL of
// the next page, if any, or the error that its Link is.
func (c *client) getPage(ctx context.Context, u string, k kind) (data []byte, next string, nextErr, err error) {
	resp, err := c.do(ctx, &request{method: "GET", url: u, kind: k, idempotent: true})
	if err != nil {
		return nil, "", nil, err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(io.LimitReader(resp.Body, maxListBody))
	if err != nil {
		return nil, "", nil, fmt.Errorf("reading %s: %w", u, err)
	}
	next, nextErr = nextLink(resp)
	return data, next, nextErr, nil
}

// sameRegistry reports whether to is on the registry from was sent to:
// the same host name (in any case) and port (the scheme's when none is
// given), over the same scheme or from http up to https.
func sameRegistry(from, to *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "http") {
			return "80"
		}
		return "443"
	}
	if !strings.EqualFold(from.Hostname(), to.Hostname()) {
		return false
	}
	switch {
	case strings.EqualFold(from.Scheme, to.Scheme):
		return port(from) == port(to)
	case strings.EqualFold(from.Scheme, "http") && strings.EqualFold(to.Scheme, "https"):
		// A registry behind a TLS terminator may name its pages
		// over https; its port then is the scheme's or the same.
		return to.Port() == "" || to.Port() == from.Port()
	}
	return false
}

// nextLink returns the absolute URL of the Link header with rel="next",
// or "" when there is none. A Link to another scheme or host is an
// error: a registry's pages are its own, and following one elsewhere
// would let a registry make the client send requests where it chose.
func nextLink(resp *http.Response) (string, error) {
	for _, h := range resp.Header.Values("Link") {
		for link := range strings.SplitSeq(h, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(link), ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			isNext := false
			for p := range strings.SplitSeq(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(v, `"`) == "next" {
					isNext = true
				}
			}
			if !isNext {
				continue
			}
			u, err := resp.Request.URL.Parse(target[1 : len(target)-1])
			if err == nil {
				// A reference can resolve to a URL that does not
				// parse again (a host of "0::0" read as a port).
				_, err = url.Parse(u.String())
			}
			if err != nil {
				return "", fmt.Errorf("registry sent a bad Link %q: %v", h, err)
			}
			if !sameRegistry(resp.Request.URL, u) {
				return "", fmt.Errorf("registry sent a Link to another host: %q", h)
			}
			return u.String(), nil
		}
	}
	return "", nil
}
