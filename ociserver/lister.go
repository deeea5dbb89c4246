package ociserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ocireg/ociregistry"
)

// tags answers GET /v2/<name>/tags/list, with the n and last parameters.
func (s *server) tags(w http.ResponseWriter, req *http.Request, rt route) error {
	n, nGiven, err := s.pageSize(req, s.opts.ListPageSize)
	if err != nil {
		return err
	}
	last := req.URL.Query().Get("last")
	tags, more, err := collect(s.backend.Tags(req.Context(), rt.repo, last), n)
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/"+rt.repo+"/tags/list", url.Values{}, tags[len(tags)-1], n, nGiven)
	}
	return writeJSON(w, req, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.repo, tags})
}

// catalog answers GET /v2/_catalog, with the n and last parameters.
func (s *server) catalog(w http.ResponseWriter, req *http.Request) error {
	n, nGiven, err := s.pageSize(req, s.opts.ListPageSize)
	if err != nil {
		return err
	}
	last := req.URL.Query().Get("last")
	repos, more, err := collect(s.backend.Repositories(req.Context(), last), n)
	if err != nil {
		return err
	}
	if more {
		setNextLink(w, "/v2/_catalog", url.Values{}, repos[len(repos)-1], n, nGiven)
	}
	return writeJSON(w, req, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// pageSize returns the size of the page that req asks for with its n
// parameter, no more than limit, and whether it gave n.
func (s *server) pageSize(req *http.Request, limit int) (n int, given bool, err error) {
	ns := req.URL.Query().Get("n")
	if ns == "" {
		return limit, false, nil
	}
	n64, ok := parseUint(ns)
	if !ok {
		return 0, false, ociregistry.NewHTTPError(fmt.Errorf("invalid n parameter %q: %w", ns, ociregistry.ErrUnsupported), http.StatusBadRequest)
	}
	return int(min(n64, int64(limit))), true, nil
}

// collect returns the first n values of seq, never nil, and whether more
// follow. A zero n still takes one value, so that an error such as an
// unknown repository is reported.
func collect(seq iter.Seq2[string, error], n int) ([]string, bool, error) {
	xs := []string{}
	for x, err := range seq {
		if err != nil {
			return nil, false, err
		}
		if len(xs) >= n {
			// The specification forbids a Link header when n is zero.
			return xs, n > 0, nil
		}
		xs = append(xs, x)
	}
	return xs, false, nil
}

// setNextLink sets the Link header that points to the page after last.
func setNextLink(w http.ResponseWriter, path string, q url.Values, last string, n int, nGiven bool) {
	q.Set("last", last)
	if nGiven {
		q.Set("n", strconv.Itoa(n))
	}
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

// writeJSON answers 200 with v in JSON as the body.
func writeJSON(w http.ResponseWriter, req *http.Request, contentType string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	writeBody(w, req, contentType, data)
	return nil
}

// writeBody answers 200 with data as the body.
func writeBody(w http.ResponseWriter, req *http.Request, contentType string, data []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		w.Write(data)
	}
}

// errReferrersDisabled answers the referrers endpoint of a server without
// it: 404, which tells clients to use the referrers tag schema.
var errReferrersDisabled = ociregistry.NewHTTPError(fmt.Errorf("referrers API disabled: %w", ociregistry.ErrUnsupported), http.StatusNotFound)

// referrers answers GET /v2/<name>/referrers/<digest>, with the
// artifactType parameter, and with last and n for pagination. The
// descriptors come ordered by digest, so a page carries on after the last
// digest of the one before.
//
// An unknown repository has no referrers rather than being an error: a
// 404 here tells clients that the API is missing.
func (s *server) referrers(w http.ResponseWriter, req *http.Request, rt route) error {
	if s.opts.DisableReferrersAPI {
		return errReferrersDisabled
	}
	d := ociregistry.Digest(rt.ref)
	if err := ociregistry.CheckDigest(d); err != nil {
		return err
	}
	q := req.URL.Query()
	artifactType := q.Get("artifactType")
	last := ociregistry.Digest(q.Get("last"))
	if last != "" {
		if err := ociregistry.CheckDigest(last); err != nil {
			return fmt.Errorf("invalid last parameter: %w", err)
		}
	}
	n, nGiven, err := s.pageSize(req, s.opts.ReferrersPageSize)
	if err != nil {
		return err
	}
	n = max(n, 1)
	// A page must fit in what a client accepts as a manifest.
	maxBytes := int(s.opts.MaxManifestSize) - 200

	var buf bytes.Buffer
	buf.WriteString(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`)
	count, size := 0, 0
	var lastDigest ociregistry.Digest
	more := false
	for desc, err := range s.backend.Referrers(req.Context(), rt.repo, d, artifactType) {
		if err != nil {
			if errors.Is(err, ociregistry.ErrNameUnknown) {
				break
			}
			if isUnsupported(err) {
				return ociregistry.NewHTTPError(err, http.StatusNotFound)
			}
			return err
		}
		if last != "" && desc.Digest <= last {
			continue
		}
		data, err := json.Marshal(desc)
		if err != nil {
			return err
		}
		if count >= n || (count > 0 && size+len(data)+1 > maxBytes) {
			more = true
			break
		}
		if count > 0 {
			buf.WriteByte(',')
		}
		buf.Write(data)
		count++
		size += len(data) + 1
		lastDigest = desc.Digest
	}
	buf.WriteString("]}")
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if more {
		lq := url.Values{}
		if artifactType != "" {
			lq.Set("artifactType", artifactType)
		}
		setNextLink(w, "/v2/"+rt.repo+"/referrers/"+string(d), lq, string(lastDigest), n, nGiven)
	}
	writeBody(w, req, "application/vnd.oci.image.index.v1+json", buf.Bytes())
	return nil
}
