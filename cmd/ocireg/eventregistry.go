package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/internal/repolock"
)

// eventRequestKey is the context key of the eventRequest of the request
// that a registry call serves.
type eventRequestKey struct{}

// withEventRequest returns h with, in each request's context, what an
// event says of the request.
func withEventRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		er := &eventRequest{ID: newEventID(), Addr: req.RemoteAddr, Host: truncate(req.Host), Method: truncate(req.Method), UserAgent: truncate(req.UserAgent())}
		h.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), eventRequestKey{}, er)))
	})
}

// maxEventField bounds what an event keeps of a request's headers, so
// that each event, kept on disk until delivered, is small.
const maxEventField = 256

// truncate returns s cut to maxEventField bytes.
func truncate(s string) string {
	return s[:min(len(s), maxEventField)]
}

// withEvents returns reg with each change it makes (a blob or manifest
// pushed, a blob mounted, a blob, manifest or tag deleted) recorded in o
// before it returns: a change for which o has no room is not made, and
// one whose event cannot be recorded fails, so that the client tries it
// again (a change made twice is the same change).
func withEvents(reg ociregistry.Interface, o *outbox, source eventSource, scheme string, logger *slog.Logger) ociregistry.Interface {
	e := &eventer{r: reg, o: o, source: source, scheme: scheme, logger: logger}
	return &ociregistry.Funcs{
		GetBlob_:         reg.GetBlob,
		GetBlobRange_:    reg.GetBlobRange,
		GetManifest_:     reg.GetManifest,
		GetTag_:          reg.GetTag,
		ResolveBlob_:     reg.ResolveBlob,
		ResolveManifest_: reg.ResolveManifest,
		ResolveTag_:      reg.ResolveTag,
		PushBlob_: func(ctx context.Context, repo string, desc ociregistry.Descriptor, r io.Reader) (ociregistry.Descriptor, error) {
			expect := ociregistry.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size}
			return e.change(ctx, "push", repo, "blobs", "", expect, func() (ociregistry.Descriptor, error) { return reg.PushBlob(ctx, repo, desc, r) })
		},
		PushBlobChunked_: func(ctx context.Context, repo string, chunkSize int) (ociregistry.BlobWriter, error) {
			w, err := reg.PushBlobChunked(ctx, repo, chunkSize)
			return e.writer(ctx, repo, w), err
		},
		PushBlobChunkedResume_: func(ctx context.Context, repo, id string, offset int64, chunkSize int) (ociregistry.BlobWriter, error) {
			w, err := reg.PushBlobChunkedResume(ctx, repo, id, offset, chunkSize)
			return e.writer(ctx, repo, w), err
		},
		MountBlob_: func(ctx context.Context, fromRepo, toRepo string, dg ociregistry.Digest) (ociregistry.Descriptor, error) {
			return e.change(ctx, "mount", toRepo, "blobs", fromRepo, ociregistry.Descriptor{Digest: dg}, func() (ociregistry.Descriptor, error) { return reg.MountBlob(ctx, fromRepo, toRepo, dg) })
		},
		PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
			expect := ociregistry.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(contents), Size: int64(len(contents))}
			return e.change(ctx, "push", repo, "manifests", tag, expect, func() (ociregistry.Descriptor, error) {
				return reg.PushManifest(ctx, repo, tag, contents, mediaType)
			})
		},
		DeleteBlob_: func(ctx context.Context, repo string, dg ociregistry.Digest) error {
			return e.deletion(ctx, repo, "blobs", "", dg, func() error { return reg.DeleteBlob(ctx, repo, dg) })
		},
		DeleteManifest_: func(ctx context.Context, repo string, dg ociregistry.Digest) error {
			return e.deletion(ctx, repo, "manifests", "", dg, func() error { return reg.DeleteManifest(ctx, repo, dg) })
		},
		DeleteTag_: func(ctx context.Context, repo, tag string) error {
			return e.deletion(ctx, repo, "manifests", tag, "", func() error { return reg.DeleteTag(ctx, repo, tag) })
		},
		Repositories_: reg.Repositories,
		Tags_:         reg.Tags,
		Referrers_:    reg.Referrers,
	}
}

// eventer records the changes of a registry.
type eventer struct {
	r      ociregistry.Interface
	o      *outbox
	source eventSource
	scheme string // of the URLs in targets
	logger *slog.Logger
	repos  repolock.Locks // serialize a repository's manifest changes with their numbering
}

// change makes a change with do and records it as action on what do
// returns in repo: kind is "blobs" or "manifests"; ref is the tag of a
// manifest or the repository a blob is mounted from. The event is
// written first, with expect for the target, so that a change whose
// event cannot be written is not made, and one made is never untold
// (whereas a client trying it again may find it made and not make it
// again); it is let go if the change fails, and written again when the
// target turns out other than expected (a mount's size). The changes of
// a repository's manifests and tags are numbered in the order they are
// made, so that an endpoint hears of a tag's moves in order.
func (e *eventer) change(ctx context.Context, action, repo, kind, ref string, expect ociregistry.Descriptor, do func() (ociregistry.Descriptor, error)) (ociregistry.Descriptor, error) {
	if err := e.o.reserve(); err != nil {
		return ociregistry.Descriptor{}, err
	}
	if kind == "manifests" {
		unlock, err := e.repos.Lock(ctx, repo)
		if err != nil {
			e.o.release()
			return ociregistry.Descriptor{}, err
		}
		defer unlock()
	}
	n := e.o.number()
	if err := e.o.writeFiles(n, e.newEvent(ctx, action, repo, kind, ref, expect)); err != nil {
		e.o.abort(n)
		return ociregistry.Descriptor{}, err
	}
	desc, err := do()
	if err != nil {
		e.o.abort(n)
		return desc, err
	}
	if desc.Digest != "" && (desc.Digest != expect.Digest || desc.Size != expect.Size || desc.MediaType != expect.MediaType) {
		if err := e.o.writeFiles(n, e.newEvent(ctx, action, repo, kind, ref, desc)); err != nil {
			// The event first written stands, less exact.
			e.logger.Warn("events: could not write an event again with its final target", "err", err)
		}
	}
	e.o.commit(n)
	return desc, nil
}

// deletion makes a delete of dg, or of tag, in repo with del, its
// events written first, as change does. A manifest deleted by digest
// takes its tags with it: each gets a delete event of its own, as
// Distribution sends, so that an endpoint that follows tags learns that
// they are gone.
func (e *eventer) deletion(ctx context.Context, repo, kind, tag string, dg ociregistry.Digest, del func() error) error {
	unlock, err := e.repos.Lock(ctx, repo)
	if err != nil {
		return err
	}
	defer unlock()
	evs := []*event{e.newEvent(ctx, "delete", repo, kind, tag, ociregistry.Descriptor{Digest: dg})}
	if kind == "manifests" && tag == "" {
		for _, t := range e.tagsNaming(ctx, repo, dg) {
			evs = append(evs, e.newEvent(ctx, "delete", repo, kind, t, ociregistry.Descriptor{Digest: dg}))
		}
	}
	if err := e.o.reserveN(len(evs)); err != nil {
		return err
	}
	ns := make([]uint64, len(evs))
	for i := range evs {
		ns[i] = e.o.number()
	}
	abort := func() {
		for _, n := range ns {
			e.o.abort(n)
		}
	}
	for i, ev := range evs {
		if err := e.o.writeFiles(ns[i], ev); err != nil {
			abort()
			return err
		}
	}
	if err := del(); err != nil {
		abort()
		return err
	}
	for _, n := range ns {
		e.o.commit(n)
	}
	return nil
}

// maxTagsTold bounds the tags a manifest delete looks through for those
// that name the manifest.
const maxTagsTold = 10000

// tagsNaming returns the tags of repo that name the manifest dg, of the
// first maxTagsTold tags.
func (e *eventer) tagsNaming(ctx context.Context, repo string, dg ociregistry.Digest) []string {
	var tags []string
	looked := 0
	for t, err := range e.r.Tags(ctx, repo, "") {
		if err != nil {
			break
		}
		if looked++; looked > maxTagsTold {
			e.logger.Warn("events: a manifest delete tells of the tags it removes among the first ones only", "repo", repo, "tags", maxTagsTold)
			break
		}
		if desc, err := e.r.ResolveTag(ctx, repo, t); err == nil && desc.Digest == dg {
			tags = append(tags, t)
		}
	}
	return tags
}

// newEvent returns the event of a change: action on desc in repo, of
// kind "blobs" or "manifests", with ref the tag of a manifest or the
// repository a blob is mounted from.
func (e *eventer) newEvent(ctx context.Context, action, repo, kind, ref string, desc ociregistry.Descriptor) *event {
	ev := &event{
		ID:        newEventID(),
		Timestamp: time.Now().UTC(),
		Action:    action,
		Target: eventTarget{
			MediaType:  desc.MediaType,
			Digest:     desc.Digest,
			Size:       desc.Size,
			Length:     desc.Size,
			Repository: repo,
		},
		Source: e.source,
	}
	if action == "mount" {
		ev.Target.FromRepo = ref
	} else if kind == "manifests" {
		ev.Target.Tag = ref
	}
	if er, ok := ctx.Value(eventRequestKey{}).(*eventRequest); ok {
		ev.Request = *er
		if desc.Digest != "" {
			ev.Target.URL = e.scheme + "://" + er.Host + "/v2/" + repo + "/" + kind + "/" + string(desc.Digest)
		}
	}
	ev.Actor.Name, _ = ctx.Value(authUserKey{}).(string)
	return ev
}

// writer returns w, whose Commit records a push.
func (e *eventer) writer(ctx context.Context, repo string, w ociregistry.BlobWriter) ociregistry.BlobWriter {
	if w == nil {
		return nil
	}
	return &eventWriter{BlobWriter: w, e: e, ctx: ctx, repo: repo}
}

// eventWriter is a BlobWriter whose Commit is a change.
type eventWriter struct {
	ociregistry.BlobWriter
	e    *eventer
	ctx  context.Context
	repo string
}

// ReadFrom passes src to the writer's ReadFrom when it has one: the
// stores read request bodies straight into their buffers or files.
func (w *eventWriter) ReadFrom(src io.Reader) (int64, error) {
	return readFromVia(w.BlobWriter, src)
}

func (w *eventWriter) Commit(dg ociregistry.Digest) (ociregistry.Descriptor, error) {
	expect := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: dg, Size: w.Size()}
	return w.e.change(w.ctx, "push", w.repo, "blobs", "", expect, func() (ociregistry.Descriptor, error) { return w.BlobWriter.Commit(dg) })
}
