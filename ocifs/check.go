package ocifs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
)

// maxCheckProblems is the most problems Check reports.
const maxCheckProblems = 50

// Check verifies the consistency of the registry in dir and returns nil
// when it is consistent, or an error joining the problems found: every
// blob's content has its digest; no file is visible outside tmp/ and
// uploads/ but those the layout names (so no temporary or partial file);
// every link and tag file parses and names content that exists; every
// tag leads to a manifest that is linked in its repository under the
// digest the tag names and under its sha256 digest (so no tag dangles),
// that parses as its media type and whose blobs and child manifests,
// recursively, are present in its repository. It
// reads all the content, so it takes time in proportion to the size of
// the registry. It modifies nothing.
//
// A registry that was only ever changed through this package passes
// Check after a crash at any instant, unless blobs or child manifests
// that tagged manifests refer to were removed with DeleteBlob or
// DeleteManifest, which the distribution specification allows: such an
// image can no longer be pulled whole, and Check reports it.
func Check(ctx context.Context, dir string) error {
	c := &checker{dir: dir, ok: make(map[ociregistry.Digest]bool)}
	top, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("ocifs: %w", err)
	}
	for _, e := range top {
		switch e.Name() {
		case "blobs", "repos", "uploads", "tmp", "locks", "gc.lock", "gc.gate":
		default:
			c.problem("unexpected file %s", e.Name())
		}
	}
	c.checkBlobs(ctx)
	names, err := allRepoDirs(dir)
	if err != nil {
		c.problem("listing repositories: %v", err)
	}
	for _, name := range names {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.checkRepo(name)
	}
	if len(c.problems) == 0 {
		return nil
	}
	return fmt.Errorf("ocifs: registry %s is inconsistent: %w", dir, errors.Join(c.problems...))
}

type checker struct {
	dir      string
	ok       map[ociregistry.Digest]bool
	problems []error
}

func (c *checker) problem(format string, args ...any) {
	if len(c.problems) < maxCheckProblems {
		c.problems = append(c.problems, fmt.Errorf(format, args...))
	}
}

// checkBlobs verifies the content of every blob.
func (c *checker) checkBlobs(ctx context.Context) {
	bdir := filepath.Join(c.dir, "blobs")
	algs, err := os.ReadDir(bdir)
	if err != nil {
		c.problem("reading blobs: %v", err)
		return
	}
	for _, a := range algs {
		entries, err := os.ReadDir(filepath.Join(bdir, a.Name()))
		if err != nil {
			c.problem("unexpected file blobs/%s", a.Name())
			continue
		}
		for _, e := range entries {
			if ctx.Err() != nil {
				return
			}
			d := ociregistry.Digest(a.Name() + ":" + e.Name())
			if ociregistry.CheckDigest(d) != nil || e.IsDir() {
				c.problem("unexpected file blobs/%s/%s", a.Name(), e.Name())
				continue
			}
			if err := verifyFile(filepath.Join(bdir, a.Name(), e.Name()), d); err != nil {
				c.problem("blob %s: %v", d, err)
				continue
			}
			c.ok[d] = true
		}
	}
}

func verifyFile(path string, d ociregistry.Digest) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := d.Algorithm().Hash()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := ociregistry.Digest(string(d.Algorithm()) + ":" + fmt.Sprintf("%x", h.Sum(nil))); got != d {
		return fmt.Errorf("content has digest %s", got)
	}
	return nil
}

// checkRepo checks one repository's files.
func (c *checker) checkRepo(name string) {
	rdir, err := repoDir(c.dir, name)
	if err != nil {
		c.problem("repository directory %q: %v", name, err)
		return
	}
	entries, _ := os.ReadDir(rdir)
	for _, e := range entries {
		n := e.Name()
		if n[0] == '_' && n != "_blobs" && n != "_manifests" && n != "_tags" && n != "_referrers" || !e.IsDir() {
			c.problem("unexpected file %s/%s", name, n)
		}
	}
	blobs := c.checkLinks(name, rdir, "_blobs", func(path string, d ociregistry.Digest) {})
	manifests := c.checkLinks(name, rdir, "_manifests", func(path string, d ociregistry.Digest) {
		sd, err := readDescriptor(path)
		switch {
		case err != nil:
			c.problem("repository %s: manifest %s: %v", name, d, err)
		case sd.Digest != d:
			c.problem("repository %s: link for manifest %s names %s", name, d, sd.Digest)
		case !c.ok[sd.content()]:
			c.problem("repository %s: manifest %s has no valid content", name, d)
		}
	})
	tags, _ := os.ReadDir(filepath.Join(rdir, "_tags"))
	checked := make(map[ociregistry.Digest]bool)
	for _, t := range tags {
		if !ociregistry.IsValidTag(t.Name()) || t.IsDir() {
			c.problem("repository %s: unexpected file _tags/%s", name, t.Name())
			continue
		}
		sd, err := readDescriptor(filepath.Join(rdir, "_tags", t.Name()))
		if err != nil {
			c.problem("repository %s: tag %s: %v", name, t.Name(), err)
			continue
		}
		if !c.linked(name, rdir, sd, manifests, "tag "+t.Name()) {
			continue
		}
		c.checkManifest(name, rdir, sd, blobs, manifests, checked)
	}
	c.checkReferrers(name, rdir)
}

// checkLinks checks the link files of one kind in a repository, calling
// check for each, and returns the digests they name.
func (c *checker) checkLinks(name, rdir, kind string, check func(path string, d ociregistry.Digest)) map[ociregistry.Digest]bool {
	found := make(map[ociregistry.Digest]bool)
	algs, _ := os.ReadDir(filepath.Join(rdir, kind))
	for _, a := range algs {
		entries, err := os.ReadDir(filepath.Join(rdir, kind, a.Name()))
		if err != nil {
			c.problem("repository %s: unexpected file %s/%s", name, kind, a.Name())
			continue
		}
		for _, e := range entries {
			d := ociregistry.Digest(a.Name() + ":" + e.Name())
			if ociregistry.CheckDigest(d) != nil || e.IsDir() {
				c.problem("repository %s: unexpected file %s/%s/%s", name, kind, a.Name(), e.Name())
				continue
			}
			if kind == "_blobs" && !c.ok[d] {
				c.problem("repository %s: link to blob %s without valid content", name, d)
			}
			check(filepath.Join(rdir, kind, a.Name(), e.Name()), d)
			found[d] = true
		}
	}
	return found
}

// checkManifest checks that a tagged manifest parses and that what it
// refers to is present, recursively.
func (c *checker) checkManifest(name, rdir string, sd storedDescriptor, blobs, manifests, checked map[ociregistry.Digest]bool) {
	if checked[sd.Digest] {
		return
	}
	checked[sd.Digest] = true
	data, err := os.ReadFile(filepath.Join(c.dir, "blobs", string(sd.content().Algorithm()), sd.content().Encoded()))
	if err != nil {
		c.problem("repository %s: manifest %s: %v", name, sd.Digest, err)
		return
	}
	if int64(len(data)) != sd.Size {
		c.problem("repository %s: manifest %s has size %d, not %d", name, sd.Digest, len(data), sd.Size)
	}
	pm, err := ocimanifest.Parse(data, sd.MediaType)
	if err != nil {
		c.problem("repository %s: manifest %s: %v", name, sd.Digest, err)
		return
	}
	for _, b := range pm.Blobs {
		if !blobs[b.Digest] || !c.ok[b.Digest] {
			c.problem("repository %s: manifest %s refers to missing blob %s", name, sd.Digest, b.Digest)
		}
	}
	for _, m := range pm.Children {
		dp, _ := digestPath(m.Digest)
		child, err := readDescriptor(manifestLink(rdir, dp))
		if err != nil {
			c.problem("repository %s: index %s refers to missing manifest %s", name, sd.Digest, m.Digest)
			continue
		}
		if c.linked(name, rdir, child, manifests, "index "+string(sd.Digest)) {
			c.checkManifest(name, rdir, child, blobs, manifests, checked)
		}
	}
}

// linked reports whether the manifest that sd (from a tag, or an index's
// link to a child) names is in the repository: linked under the digest
// sd names and under the sha256 digest of its content, since that is
// the link DeleteManifest and the garbage collector go by. A tag that
// leads to a manifest without it dangles: GET by digest answers
// MANIFEST_UNKNOWN, and the garbage collector may remove the content.
func (c *checker) linked(name, rdir string, sd storedDescriptor, manifests map[ociregistry.Digest]bool, from string) bool {
	switch {
	case !manifests[sd.Digest]:
		c.problem("repository %s: %s points to missing manifest %s", name, from, sd.Digest)
		return false
	case !manifests[sd.content()]:
		c.problem("repository %s: %s points to manifest %s, whose link as %s is missing", name, from, sd.Digest, sd.content())
		return false
	}
	dp, _ := digestPath(sd.content())
	link, err := readDescriptor(manifestLink(rdir, dp))
	if err != nil || link.content() != sd.content() || link.MediaType != sd.MediaType || link.Size != sd.Size {
		c.problem("repository %s: %s points to manifest %s, whose link as %s disagrees with it", name, from, sd.Digest, sd.content())
		return false
	}
	return true
}

// checkReferrers checks that the referrer files parse.
func (c *checker) checkReferrers(name, rdir string) {
	base := filepath.Join(rdir, "_referrers")
	filepath.WalkDir(base, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(base, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) != 3 || ociregistry.CheckDigest(ociregistry.Digest(parts[0]+":"+parts[1])) != nil {
			c.problem("repository %s: unexpected file _referrers/%s", name, rel)
			return nil
		}
		if _, ok := referrerDigest(parts[2]); !ok {
			c.problem("repository %s: unexpected file _referrers/%s", name, rel)
			return nil
		}
		if _, err := readReferrer(path); err != nil {
			c.problem("repository %s: referrer file %s: %v", name, rel, err)
		}
		return nil
	})
}
