package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/ocireg/ociregistry"
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
			return e.change(ctx, "push", repo, "blobs", "", func() (ociregistry.Descriptor, error) { return reg.PushBlob(ctx, repo, desc, r) })
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
			return e.change(ctx, "mount", toRepo, "blobs", fromRepo, func() (ociregistry.Descriptor, error) { return reg.MountBlob(ctx, fromRepo, toRepo, dg) })
		},
		PushManifest_: func(ctx context.Context, repo, tag string, contents []byte, mediaType string) (ociregistry.Descriptor, error) {
			return e.change(ctx, "push", repo, "manifests", tag, func() (ociregistry.Descriptor, error) {
				return reg.PushManifest(ctx, repo, tag, contents, mediaType)
			})
		},
		DeleteBlob_: func(ctx context.Context, repo string, dg ociregistry.Digest) error {
			_, err := e.change(ctx, "delete", repo, "blobs", "", func() (ociregistry.Descriptor, error) {
				return ociregistry.Descriptor{Digest: dg}, reg.DeleteBlob(ctx, repo, dg)
			})
			return err
		},
		DeleteManifest_: func(ctx context.Context, repo string, dg ociregistry.Digest) error {
			_, err := e.change(ctx, "delete", repo, "manifests", "", func() (ociregistry.Descriptor, error) {
				return ociregistry.Descriptor{Digest: dg}, reg.DeleteManifest(ctx, repo, dg)
			})
			return err
		},
		DeleteTag_: func(ctx context.Context, repo, tag string) error {
			_, err := e.change(ctx, "delete", repo, "manifests", tag, func() (ociregistry.Descriptor, error) {
				return ociregistry.Descriptor{}, reg.DeleteTag(ctx, repo, tag)
			})
			return err
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
}

// change makes a change with do, in a place of the outbox taken first,
// and records it as action on what do returns in repo: kind is "blobs"
// or "manifests"; ref is the tag of a manifest or the repository a blob
// is mounted from.
func (e *eventer) change(ctx context.Context, action, repo, kind, ref string, do func() (ociregistry.Descriptor, error)) (ociregistry.Descriptor, error) {
	if err := e.o.reserve(); err != nil {
		return ociregistry.Descriptor{}, err
	}
	desc, err := do()
	if err != nil {
		e.o.release()
		return desc, err
	}
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
	if err := e.o.add(ev); err != nil {
		// A push tried again is recorded then; a delete tried
		// again finds nothing to delete: the log keeps the event.
		data, _ := json.Marshal(ev)
		e.logger.Error("events: a change was made but its event could not be recorded", "event", string(data), "err", err)
		return ociregistry.Descriptor{}, err
	}
	return desc, nil
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
	return w.e.change(w.ctx, "push", w.repo, "blobs", "", func() (ociregistry.Descriptor, error) { return w.BlobWriter.Commit(dg) })
}
