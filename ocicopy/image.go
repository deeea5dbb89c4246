package ocicopy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/ocimanifest"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize bounds the manifests read from the source, as
// registries bound those pushed to them (ociserver's default and
// Distribution's limit), so that a source cannot make a copy hold an
// unbounded amount of memory.
const maxManifestSize = 4 << 20

// imageCopy copies one image of a Copy or CopyAll.
type imageCopy struct {
	e     *engine
	index int
	img   Image
	dstID int

	// The plan: manifests in the order they are pushed (children
	// before parents, subjects before referrers) and the blobs they
	// need, each once. Manifests and blobs are remembered apart: the
	// same bytes may be both a manifest and a blob (an artifact can
	// carry a manifest as a layer), and each must then be copied as
	// what it is, the manifest pushed and the blob uploaded.
	manifests     []manifestNode
	blobs         []ociregistry.Descriptor
	seenManifests map[ociregistry.Digest]bool
	seenBlobs     map[ociregistry.Digest]bool
}

// manifestNode is a manifest to push, with its exact bytes.
type manifestNode struct {
	desc ociregistry.Descriptor
	data []byte
	// present says that the destination holds the manifest already.
	present bool
}

// copy copies c.img and returns the descriptor of the manifest copied.
func (c *imageCopy) copy(ctx context.Context) (ociregistry.Descriptor, error) {
	isDigest, err := checkRef(c.img.Ref)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	tag := c.img.Tag
	if tag == "" && !isDigest {
		tag = c.img.Ref
	}
	if tag != "" {
		if err := ociregistry.CheckTag(tag); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	data, desc, err := c.root(ctx)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := c.plan(ctx, desc, data, c.dstHasManifest(ctx, desc.Digest)); err != nil {
		return ociregistry.Descriptor{}, err
	}
	// The root's media type may come from its content.
	desc = c.manifests[len(c.manifests)-1].desc
	if c.e.opts.Referrers {
		if err := c.planReferrers(ctx); err != nil {
			return ociregistry.Descriptor{}, err
		}
	}
	if err := c.copyBlobs(ctx); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if err := c.pushManifests(ctx, desc.Digest, tag); err != nil {
		return ociregistry.Descriptor{}, err
	}
	return desc, nil
}

// root returns the manifest to copy: the one c.img.Ref names or, with
// Options.Platform, the image for it in that.
func (c *imageCopy) root(ctx context.Context) ([]byte, ociregistry.Descriptor, error) {
	isDigest, err := checkRef(c.img.Ref)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	var data []byte
	var desc ociregistry.Descriptor
	if isDigest {
		data, desc, err = c.fetchManifest(ctx, ociregistry.Descriptor{Digest: ociregistry.Digest(c.img.Ref)}, "")
	} else {
		data, desc, err = c.fetchManifest(ctx, ociregistry.Descriptor{}, c.img.Ref)
	}
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	if p := c.e.opts.Platform; p != nil {
		return c.selectPlatform(ctx, data, desc, p)
	}
	return data, desc, nil
}

// fetchManifest returns the manifest desc.Digest names in the source, or
// the one tag names when desc.Digest is empty, with its descriptor: its
// media type is desc's, or else the one the source gives. The content is
// checked against the digest.
func (c *imageCopy) fetchManifest(ctx context.Context, desc ociregistry.Descriptor, tag string) ([]byte, ociregistry.Descriptor, error) {
	what := "manifest " + string(desc.Digest)
	if desc.Digest == "" {
		what = "tag " + tag
	}
	srcErr := func(err error) error { return &Error{Side: Source, Err: fmt.Errorf("%s: %w", what, err)} }
	if desc.Size > maxManifestSize {
		return nil, ociregistry.Descriptor{}, srcErr(fmt.Errorf("size %d exceeds the limit of %d bytes: %w", desc.Size, maxManifestSize, ociregistry.ErrManifestInvalid))
	}
	release, err := c.e.acquire(ctx)
	if err != nil {
		return nil, ociregistry.Descriptor{}, err
	}
	defer release()
	var r ociregistry.BlobReader
	if desc.Digest != "" {
		r, err = c.img.Src.GetManifest(ctx, c.img.SrcRepo, desc.Digest)
	} else {
		r, err = c.img.Src.GetTag(ctx, c.img.SrcRepo, tag)
	}
	if err != nil {
		return nil, ociregistry.Descriptor{}, srcErr(err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxManifestSize+1))
	if err != nil {
		return nil, ociregistry.Descriptor{}, srcErr(err)
	}
	if len(data) > maxManifestSize {
		return nil, ociregistry.Descriptor{}, srcErr(fmt.Errorf("content exceeds the limit of %d bytes: %w", maxManifestSize, ociregistry.ErrManifestInvalid))
	}
	got := r.Descriptor()
	want := desc.Digest
	if want == "" {
		want = got.Digest
	}
	// Digest with the algorithm of the digest asked for, so that a
	// sha512 manifest is checked as one.
	alg := digest.SHA256
	if want != "" && ociregistry.IsValidDigest(want) {
		alg = want.Algorithm()
	}
	dig := alg.FromBytes(data)
	if want != "" && dig != want {
		return nil, ociregistry.Descriptor{}, srcErr(fmt.Errorf("content has digest %s, not %s: %w", dig, want, ociregistry.ErrDigestInvalid))
	}
	mediaType := desc.MediaType
	if mediaType == "" {
		mediaType = got.MediaType
	}
	return data, ociregistry.Descriptor{MediaType: mediaType, Digest: dig, Size: int64(len(data))}, nil
}

// selectPlatform returns the child of the index data for p. A manifest
// that is not an index is returned as it is.
func (c *imageCopy) selectPlatform(ctx context.Context, data []byte, desc ociregistry.Descriptor, p *ocispec.Platform) ([]byte, ociregistry.Descriptor, error) {
	pm, err := ocimanifest.Parse(data, desc.MediaType)
	if err != nil {
		return nil, ociregistry.Descriptor{}, &Error{Side: Source, Err: fmt.Errorf("manifest %s: %w", desc.Digest, err)}
	}
	if !isIndex(pm.MediaType) {
		return data, desc, nil
	}
	npe := &NoPlatformError{Platform: *p}
	for _, child := range pm.Children {
		cp := child.Platform
		if cp == nil {
			continue
		}
		npe.Have = append(npe.Have, *cp)
		if cp.OS == p.OS && cp.Architecture == p.Architecture && (p.Variant == "" || cp.Variant == p.Variant) {
			return c.fetchManifest(ctx, child, "")
		}
	}
	return nil, ociregistry.Descriptor{}, npe
}

func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == "application/vnd.docker.distribution.manifest.list.v2+json"
}

// plan adds the manifest desc, whose content is data, after its
// children, and its blobs to the plan, unless it is there already.
// present says that the destination holds it already: then it is not
// walked (and data may be nil), unless referrers are copied too (its
// children may have referrers the destination lacks), since a registry
// that holds a manifest holds what it refers to.
func (c *imageCopy) plan(ctx context.Context, desc ociregistry.Descriptor, data []byte, present bool) error {
	if c.seenManifests[desc.Digest] {
		return nil
	}
	c.seenManifests[desc.Digest] = true
	if present && !c.e.opts.Referrers {
		if desc.MediaType == "" && data != nil {
			// The root may need a tag, pushed with its media type.
			if pm, err := ocimanifest.Parse(data, ""); err == nil {
				desc.MediaType = pm.MediaType
			}
		}
		c.manifests = append(c.manifests, manifestNode{desc: desc, data: data, present: true})
		return nil
	}
	pm, err := ocimanifest.Parse(data, desc.MediaType)
	if err != nil {
		return &Error{Side: Source, Err: fmt.Errorf("manifest %s: %w", desc.Digest, err)}
	}
	if desc.MediaType == "" {
		desc.MediaType = pm.MediaType
	}
	children := c.fetchChildren(ctx, pm.Children)
	for _, child := range children {
		if child.err != nil {
			return child.err
		}
		if err := c.plan(ctx, child.desc, child.data, child.present); err != nil {
			return err
		}
	}
	for _, b := range pm.Blobs {
		if !c.seenBlobs[b.Digest] {
			c.seenBlobs[b.Digest] = true
			c.blobs = append(c.blobs, b)
		}
	}
	c.manifests = append(c.manifests, manifestNode{desc: desc, data: data, present: present})
	return nil
}

// fetchedChild is a child manifest as fetchChildren finds it.
type fetchedChild struct {
	desc    ociregistry.Descriptor
	data    []byte
	present bool
	err     error
}

// fetchChildren looks for the children not planned yet at the
// destination and fetches from the source those it must walk, all at
// once within the engine's bound, and returns them in order.
func (c *imageCopy) fetchChildren(ctx context.Context, children []ociregistry.Descriptor) []fetchedChild {
	var todo []ociregistry.Descriptor
	seen := map[ociregistry.Digest]bool{}
	for _, child := range children {
		if !c.seenManifests[child.Digest] && !seen[child.Digest] {
			seen[child.Digest] = true
			todo = append(todo, child)
		}
	}
	fetched := make([]fetchedChild, len(todo))
	// No more workers than transfers at once: an index may list
	// thousands of children.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(todo), c.e.opts.Concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				f := &fetched[i]
				f.desc = todo[i]
				f.present = c.dstHasManifest(ctx, todo[i].Digest)
				if f.present && !c.e.opts.Referrers {
					continue // not walked: see plan
				}
				f.data, f.desc, f.err = c.fetchManifest(ctx, todo[i], "")
			}
		})
	}
	wg.Wait()
	return fetched
}

// dstHasManifest reports whether the destination holds the manifest dig.
func (c *imageCopy) dstHasManifest(ctx context.Context, dig ociregistry.Digest) bool {
	release, err := c.e.acquire(ctx)
	if err != nil {
		return false // the copy stops at its next step
	}
	defer release()
	_, err = c.img.Dst.ResolveManifest(ctx, c.img.DstRepo, dig)
	return err == nil
}

// planReferrers adds the referrers of every manifest in the plan, and
// theirs in turn, after their subjects.
func (c *imageCopy) planReferrers(ctx context.Context) error {
	// c.manifests grows as referrers are planned, so that their
	// referrers are looked for too.
	for i := 0; i < len(c.manifests); i++ {
		subject := c.manifests[i].desc.Digest
		// The listing holds no transfer token: planning a referrer
		// takes one, and with Concurrency 1 that would never come.
		for ref, err := range c.img.Src.Referrers(ctx, c.img.SrcRepo, subject, "") {
			if errors.Is(err, ociregistry.ErrUnsupported) {
				c.e.emit(Event{Kind: Warning, Image: c.index, Err: &Error{Side: Source, Err: fmt.Errorf("cannot list referrers; copying none: %w", err)}})
				return nil
			}
			if err != nil {
				return &Error{Side: Source, Err: fmt.Errorf("listing referrers of %s: %w", subject, err)}
			}
			data, desc, err := c.fetchManifest(ctx, ociregistry.Descriptor{MediaType: ref.MediaType, Digest: ref.Digest, Size: ref.Size}, "")
			if err != nil {
				return err
			}
			if err := c.plan(ctx, desc, data, c.dstHasManifest(ctx, desc.Digest)); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyBlobs copies the blobs of the plan, sharing the copies with the
// other images of the engine, and returns the first error in the plan's
// order.
func (c *imageCopy) copyBlobs(ctx context.Context) error {
	tasks := make([]*blobTask, len(c.blobs))
	runs := make([]bool, len(c.blobs))
	for i, b := range c.blobs {
		tasks[i], runs[i] = c.e.claimBlob(c, b)
		if runs[i] {
			// Every blob is planned before any is copied, so that
			// progress shows the totals from the start.
			c.e.emit(Event{Kind: BlobPlanned, Image: c.index, Descriptor: b})
		}
	}
	errs := make([]error, len(tasks))
	// No more workers than transfers at once: an image may have
	// thousands of layers. A worker that waits for another image's
	// copy holds no transfer token, and that copy never waits, so
	// every wait ends.
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(len(tasks), c.e.opts.Concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(tasks) {
					return
				}
				task := tasks[i]
				if runs[i] {
					task.err = c.copyBlob(ctx, c.blobs[i])
					close(task.done)
					errs[i] = task.err
					continue
				}
				select {
				case <-task.done:
				case <-ctx.Done():
					errs[i] = ctx.Err()
					continue
				}
				errs[i] = task.err
				if errs[i] != nil {
					// Another image's source failed to give the
					// blob; this image's source may have it.
					errs[i] = c.copyBlob(ctx, c.blobs[i])
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// copyBlob copies one blob, unless the destination has it already or
// mounts it from the source repository.
func (c *imageCopy) copyBlob(ctx context.Context, desc ociregistry.Descriptor) error {
	release, err := c.e.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	src, dst := c.img.Src, c.img.Dst
	if got, err := dst.ResolveBlob(ctx, c.img.DstRepo, desc.Digest); err == nil && got.Size == desc.Size {
		c.e.emit(Event{Kind: BlobSkipped, Image: c.index, Descriptor: desc})
		return nil
	}
	if c.e.opts.Mount && c.img.SrcRepo != c.img.DstRepo {
		if _, err := dst.MountBlob(ctx, c.img.SrcRepo, c.img.DstRepo, desc.Digest); err == nil {
			c.e.emit(Event{Kind: BlobMounted, Image: c.index, Descriptor: desc})
			return nil
		}
		// The registry would not mount it: copy it instead.
	}
	r, err := src.GetBlob(ctx, c.img.SrcRepo, desc.Digest)
	if err != nil {
		return &Error{Side: Source, Err: fmt.Errorf("blob %s: %w", desc.Digest, err)}
	}
	defer r.Close()
	cr := &countingReader{r: r, c: c, desc: desc}
	if _, err := dst.PushBlob(ctx, c.img.DstRepo, desc, cr); err != nil {
		if cr.err != nil && !errors.Is(err, ociregistry.ErrDigestInvalid) && !errors.Is(err, ociregistry.ErrSizeInvalid) {
			// The destination failed because reading the
			// source did.
			return &Error{Side: Source, Err: fmt.Errorf("reading blob %s: %w", desc.Digest, cr.err)}
		}
		if errors.Is(err, ociregistry.ErrDigestInvalid) || errors.Is(err, ociregistry.ErrSizeInvalid) {
			// The destination checked what the source sent.
			return &Error{Side: Source, Err: fmt.Errorf("blob %s: the content does not match its descriptor: %w", desc.Digest, err)}
		}
		return &Error{Side: Destination, Err: fmt.Errorf("pushing blob %s: %w", desc.Digest, err)}
	}
	c.e.emit(Event{Kind: BlobCopied, Image: c.index, Descriptor: desc})
	return nil
}

// countingReader reports the bytes read from a blob as BlobBytes events
// and remembers the error of reading it.
type countingReader struct {
	r    io.Reader
	c    *imageCopy
	desc ociregistry.Descriptor
	err  error
}

func (cr *countingReader) Read(b []byte) (int, error) {
	n, err := cr.r.Read(b)
	if n > 0 {
		cr.c.e.emit(Event{Kind: BlobBytes, Image: cr.c.index, Descriptor: cr.desc, Bytes: int64(n)})
	}
	if err != nil && err != io.EOF {
		cr.err = err
	}
	return n, err
}

// pushManifests pushes the manifests of the plan in order, the one of
// digest root with tag, skipping those the destination holds already.
func (c *imageCopy) pushManifests(ctx context.Context, root ociregistry.Digest, tag string) error {
	for _, m := range c.manifests {
		mtag := ""
		if m.desc.Digest == root {
			mtag = tag
		}
		if m.present && !c.needsTag(ctx, m.desc.Digest, mtag) {
			c.e.emit(Event{Kind: ManifestSkipped, Image: c.index, Descriptor: m.desc})
			continue
		}
		if err := c.pushManifest(ctx, m, mtag); err != nil {
			return err
		}
		c.e.emit(Event{Kind: ManifestPushed, Image: c.index, Descriptor: m.desc})
	}
	return nil
}

// needsTag reports whether tag is not empty and does not yet point to dig
// at the destination.
func (c *imageCopy) needsTag(ctx context.Context, dig ociregistry.Digest, tag string) bool {
	if tag == "" {
		return false
	}
	got, err := c.img.Dst.ResolveTag(ctx, c.img.DstRepo, tag)
	return err != nil || got.Digest != dig
}

func (c *imageCopy) pushManifest(ctx context.Context, m manifestNode, tag string) error {
	release, err := c.e.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	got, err := c.img.Dst.PushManifest(ctx, c.img.DstRepo, tag, m.data, m.desc.MediaType)
	if err != nil {
		return &Error{Side: Destination, Err: fmt.Errorf("pushing manifest %s: %w", m.desc.Digest, err)}
	}
	// A registry may describe sha512 content by its sha256 digest
	// (see ocitest): only a digest of the same algorithm must match.
	if got.Digest != "" && got.Digest.Algorithm() == m.desc.Digest.Algorithm() && got.Digest != m.desc.Digest {
		return &Error{Side: Destination, Err: fmt.Errorf("manifest %s was stored with digest %s: %w", m.desc.Digest, got.Digest, ociregistry.ErrDigestInvalid)}
	}
	return nil
}
