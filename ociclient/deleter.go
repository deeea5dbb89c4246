package ociclient

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/ocireg/ociregistry"
)

// DeleteBlob deletes a blob. It returns an error that Is
// ociregistry.ErrBlobUnknown when there is no such blob, and one that Is
// ociregistry.ErrUnsupported when the registry does not allow deletes.
func (c *client) DeleteBlob(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return err
	}
	return c.delete(ctx, repoPath(repo, "blobs", string(dig)), kindBlob)
}

// DeleteManifest deletes a manifest and, on the registry's side, the tags
// that point to it. It returns an error that Is
// ociregistry.ErrManifestUnknown when there is no such manifest.
func (c *client) DeleteManifest(ctx context.Context, repo string, dig ociregistry.Digest) error {
	if err := ociregistry.CheckRepositoryDigest(repo, dig); err != nil {
		return err
	}
	// A manifest with a subject may be listed in its subject's
	// referrers tag, on a registry without the referrers API; read it
	// first to know.
	var subject ociregistry.Digest
	if r, err := c.GetManifest(ctx, repo, dig); err == nil {
		data, _ := io.ReadAll(r)
		r.Close()
		var m referringManifest
		if json.Unmarshal(data, &m) == nil && m.Subject != nil {
			subject = m.Subject.Digest
		}
	}
	if err := c.delete(ctx, repoPath(repo, "manifests", string(dig)), kindManifest); err != nil {
		return err
	}
	if subject != "" {
		if err := c.removeFromReferrersTag(ctx, repo, subject, dig); err != nil {
			return fmt.Errorf("manifest %s deleted but its subject's referrers tag not updated: %w", dig, err)
		}
	}
	return nil
}

// DeleteTag deletes a tag only, with DELETE on the tag's manifest path
// (distribution spec v1.1); the manifest stays. It returns an error that
// Is ociregistry.ErrManifestUnknown when there is no such tag.
func (c *client) DeleteTag(ctx context.Context, repo string, name string) error {
	if err := checkRepoTag(repo, name); err != nil {
		return err
	}
	return c.delete(ctx, repoPath(repo, "manifests", name), kindManifest)
}

func (c *client) delete(ctx context.Context, path string, k kind) error {
	resp, err := c.do(ctx, &request{method: "DELETE", url: path, kind: k, idempotent: true})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
