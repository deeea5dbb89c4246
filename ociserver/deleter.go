package ociserver

import (
	"net/http"

	"github.com/ocireg/ociregistry"
)

// deleteBlob answers DELETE /v2/<name>/blobs/<digest>.
func (s *server) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d := ociregistry.Digest(rt.ref)
	if err := ociregistry.CheckDigest(d); err != nil {
		return err
	}
	if err := s.backend.DeleteBlob(req.Context(), rt.repo, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// deleteManifest answers DELETE /v2/<name>/manifests/<reference>: by
// digest it deletes the manifest and its tags, by tag the tag only.
func (s *server) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := checkLookupRef(rt.ref)
	if err != nil {
		return err
	}
	if d != "" {
		err = s.backend.DeleteManifest(req.Context(), rt.repo, d)
	} else {
		err = s.backend.DeleteTag(req.Context(), rt.repo, rt.ref)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	return nil
}
