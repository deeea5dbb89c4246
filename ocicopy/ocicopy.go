// Package ocicopy copies images, indexes and artifacts between any two
// ociregistry.Interface values: registries through ociclient, ocimem,
// ocifs, OCI image layouts through ocilayout, or any wrapper of them.
//
// Copy copies the manifest that a tag or digest names, with everything it
// refers to: the child manifests of an index, the config and layers of an
// image, the blobs of an artifact and, on request, the referrers of each
// manifest copied (signatures, SBOMs), recursively. Manifests are copied
// byte for byte with their media type, children before the manifests that
// refer to them and subjects before their referrers, so that digests do
// not change and a registry that checks references accepts every push.
// What the destination already holds is not copied again, which makes an
// interrupted copy cheap to run again; within one registry, blobs can be
// mounted instead of copied. Several blobs are copied at once.
//
// CopyAll copies many images, from and to any registries, sharing one
// bound on the transfers under way; a blob that several images share is
// copied once per destination repository.
//
// Options choose referrers, a platform to pick from an index, the number
// of transfers at once, mounting, and a callback that follows progress.
package ocicopy

import (
	"context"
	"fmt"
	"strings"

	"github.com/ocireg/ociregistry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Options holds the options of Copy and CopyAll. A nil *Options is the
// zero Options.
type Options struct {
	// Referrers, when set, copies the referrers of every manifest
	// copied, and theirs in turn. A source that cannot list referrers
	// (its Referrers yields ErrUnsupported) is reported by a Warning
	// event and copies none.
	Referrers bool

	// Platform, when not nil, picks from an index the image for that
	// platform, and that image alone is copied (and tagged). An empty
	// Variant matches every variant. A manifest that is not an index is
	// copied as it is. Copy returns a *NoPlatformError when the index
	// has no image for the platform.
	Platform *ocispec.Platform

	// Concurrency is the number of transfers (blob copies and manifest
	// fetches and pushes) under way at once, 4 when it is zero or less.
	// CopyAll shares it among all its images.
	Concurrency int

	// Mount, when set, asks the destination to mount each blob it lacks
	// from the source repository before copying it (MountBlob), and
	// copies only the blobs it does not mount. Set it when the source
	// and destination are the same registry: a mount costs the registry
	// nothing, and a registry that refuses it costs one request.
	Mount bool

	// Progress, when not nil, is called for every event of a copy. It is
	// called from one goroutine at a time, and must return quickly: the
	// copy waits for it.
	Progress func(Event)
}

// Image is one copy that CopyAll does: the manifest that Ref names in
// SrcRepo of Src, copied to DstRepo of Dst.
type Image struct {
	Src     ociregistry.Interface
	SrcRepo string

	// Ref is a tag or a digest in SrcRepo.
	Ref string

	Dst     ociregistry.Interface
	DstRepo string

	// Tag is the tag that the copied manifest gets in DstRepo. When it
	// is empty the manifest gets Ref when Ref is a tag, and no tag when
	// Ref is a digest.
	Tag string
}

// EventKind says what an Event reports.
type EventKind int

const (
	// BlobPlanned reports a blob that the copy will need at the
	// destination, once per blob and destination repository, before
	// any of it is copied: the sum of their sizes is the total that
	// the BlobBytes, BlobCopied, BlobSkipped and BlobMounted events
	// add up to.
	BlobPlanned EventKind = iota
	// BlobBytes reports Bytes more bytes of a blob copied.
	BlobBytes
	// BlobCopied reports a blob fully copied.
	BlobCopied
	// BlobSkipped reports a blob that the destination held already.
	BlobSkipped
	// BlobMounted reports a blob that the destination mounted.
	BlobMounted
	// ManifestPushed reports a manifest pushed to the destination.
	ManifestPushed
	// ManifestSkipped reports a manifest that the destination held
	// already (with its tag, for the one copied by tag).
	ManifestSkipped
	// Warning reports something not copied that does not fail the copy:
	// Err says what.
	Warning
)

var eventKindNames = [...]string{"BlobPlanned", "BlobBytes", "BlobCopied", "BlobSkipped", "BlobMounted", "ManifestPushed", "ManifestSkipped", "Warning"}

// String returns the name of k, as in the Go source.
func (k EventKind) String() string {
	if k >= 0 && int(k) < len(eventKindNames) {
		return eventKindNames[k]
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a copy, passed to Options.Progress.
type Event struct {
	Kind EventKind
	// Image is the index of the image in CopyAll's images (0 for Copy).
	// A blob that several images share is reported for the one that
	// copies it.
	Image int
	// Descriptor describes the blob or manifest the event is about.
	Descriptor ociregistry.Descriptor
	// Bytes is the number of bytes a BlobBytes event reports.
	Bytes int64
	// Err says what a Warning is about.
	Err error
}

// Side says which registry of a copy an Error comes from.
type Side int

const (
	// Source is the registry copied from.
	Source Side = iota
	// Destination is the registry copied to.
	Destination
)

// String returns "source" or "destination".
func (s Side) String() string {
	if s == Destination {
		return "destination"
	}
	return "source"
}

// Error is the error of a registry during a copy, with the side it came
// from. It Is whatever its Err is, so errors.Is(err,
// ociregistry.ErrManifestUnknown) holds for a manifest missing from the
// source.
type Error struct {
	Side Side
	Err  error
}

// Error returns the side and the error: "source: manifest sha256:...:
// manifest unknown".
func (e *Error) Error() string { return e.Side.String() + ": " + e.Err.Error() }

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// NoPlatformError is the error of a copy with Options.Platform from an
// index that has no image for that platform. It Is
// ociregistry.ErrManifestUnknown.
type NoPlatformError struct {
	// Platform is the platform asked for.
	Platform ocispec.Platform
	// Have are the platforms of the index's images.
	Have []ocispec.Platform
}

// Error returns the platform asked for and those there are: "no image for
// platform linux/s390x (the index has: linux/amd64, linux/arm64/v8)".
func (e *NoPlatformError) Error() string {
	have := make([]string, len(e.Have))
	for i := range e.Have {
		have[i] = PlatformString(&e.Have[i])
	}
	return fmt.Sprintf("no image for platform %s (the index has: %s)", PlatformString(&e.Platform), strings.Join(have, ", "))
}

// Unwrap returns ociregistry.ErrManifestUnknown.
func (e *NoPlatformError) Unwrap() error { return ociregistry.ErrManifestUnknown }

// PlatformString returns p as os/arch[/variant].
func PlatformString(p *ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// ParsePlatform parses os/arch[/variant], as docker, crane and oras take
// it. It returns an error for anything else.
func ParsePlatform(s string) (*ocispec.Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, fmt.Errorf("invalid platform %q: want os/arch or os/arch/variant", s)
	}
	for _, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("invalid platform %q: want os/arch or os/arch/variant", s)
		}
	}
	p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	return p, nil
}

// Copy copies the manifest that ref (a tag or a digest) names in srcRepo
// of src, and everything it refers to, to dstRepo of dst, and returns the
// descriptor of the manifest copied (with Options.Platform, of the image
// picked from the index). The manifest gets ref as its tag when ref is a
// tag, and no tag when it is a digest; use CopyAll for another tag.
//
// It returns the error of ociregistry.CheckTag or CheckDigest for a
// malformed ref or tag (repository names are left to the registries); an
// *Error saying which registry failed, which Is the registry's error
// (ociregistry.ErrManifestUnknown for a manifest missing from the source,
// ociregistry.ErrDigestInvalid for content that does not match its
// digest, ociregistry.ErrManifestInvalid for a manifest that does not
// parse, ...); a *NoPlatformError; or ctx's error. What was pushed before
// an error stays at the destination, so a copy run again continues where
// it stopped.
func Copy(ctx context.Context, src ociregistry.Interface, srcRepo string, dst ociregistry.Interface, dstRepo string, ref string, opts *Options) (ociregistry.Descriptor, error) {
	descs, err := copyAll(ctx, []Image{{Src: src, SrcRepo: srcRepo, Ref: ref, Dst: dst, DstRepo: dstRepo}}, opts)
	if err != nil {
		return ociregistry.Descriptor{}, err
	}
	return descs[0], nil
}

// CopyAll copies each of images as Copy does, at most
// Options.Concurrency transfers at a time in all, and returns the
// descriptors of the manifests copied, one for each image, in order. A
// blob that several images need in the same destination repository is
// copied once. At most twice Concurrency images are under way at a time,
// so that the manifests held in memory stay few however many images
// there are.
//
// An image that fails does not stop the others. The error, when some
// fail, joins (as errors.Join does) one for each of them, in the order of
// images: an error that Is, and As, what Copy's would, prefixed with the
// image's repository and reference. Their descriptors are zero. A
// cancelled ctx stops them all.
func CopyAll(ctx context.Context, images []Image, opts *Options) ([]ociregistry.Descriptor, error) {
	return copyAll(ctx, images, opts)
}

// checkRef checks that ref is a valid tag or digest, and says which.
func checkRef(ref string) (isDigest bool, err error) {
	if strings.Contains(ref, ":") {
		return true, ociregistry.CheckDigest(ociregistry.Digest(ref))
	}
	return false, ociregistry.CheckTag(ref)
}

// Resolve returns the descriptor of the manifest that Copy would copy
// for ref in repo of src with opts: the one ref names or, with
// opts.Platform, the image for that platform in it. Only opts.Platform
// is used. It returns the errors of Copy that come from the source.
func Resolve(ctx context.Context, src ociregistry.Interface, repo string, ref string, opts *Options) (ociregistry.Descriptor, error) {
	c := &imageCopy{e: newEngine(opts), img: Image{Src: src, SrcRepo: repo, Ref: ref}}
	_, desc, err := c.root(ctx)
	return desc, err
}
