package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ociclient"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

// eventReceiver is an endpoint that records what it is sent, and
// answers 503 while down is set.
type eventReceiver struct {
	mu     sync.Mutex
	down   bool
	posts  []receivedPost
	srv    *httptest.Server
	notify chan struct{}
}

type receivedPost struct {
	path, contentType, token string
	body                     map[string]any
}

func startReceiver(t *testing.T) *eventReceiver {
	r := &eventReceiver{notify: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// Whether the endpoint is down is decided as a delivery
		// arrives: one that arrived while it was down and were
		// taken later might be one whose sender has given up, and
		// would be sent again.
		r.mu.Lock()
		down := r.down
		r.mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		data, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		var body map[string]any
		if err := json.Unmarshal(data, &body); err != nil {
			t.Errorf("%s: body %q is not JSON", req.URL.Path, data)
		}
		r.posts = append(r.posts, receivedPost{req.URL.Path, req.Header.Get("Content-Type"), req.Header.Get("X-Token"), body})
		select {
		case r.notify <- struct{}{}:
		default:
		}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *eventReceiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// events returns the events received at path, in the order received:
// those of Distribution's envelopes, or the data of CloudEvents.
func (r *eventReceiver) events(path string) []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var evs []map[string]any
	for _, p := range r.posts {
		if p.path != path {
			continue
		}
		if list, ok := p.body["events"].([]any); ok {
			for _, e := range list {
				evs = append(evs, e.(map[string]any))
			}
		} else if data, ok := p.body["data"].(map[string]any); ok {
			evs = append(evs, data)
		}
	}
	return evs
}

// waitEvents waits until path has received n events.
func (r *eventReceiver) waitEvents(t *testing.T, path string, n int) []map[string]any {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if evs := r.events(path); len(evs) >= n {
			return evs
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%s received %d events, want %d", path, len(r.events(path)), n)
		}
	}
}

// writeEventsConfig writes a config that serves a registry in memory,
// with events in outbox for endpoints at the receiver's /d
// (Distribution's envelope) and /ce (CloudEvents).
func writeEventsConfig(t *testing.T, dir, outbox string, recv *eventReceiver, maxPending int) string {
	cfg := fmt.Sprintf(`events:
  dir: %s
  maxPending: %d
  endpoints:
    - {name: d, url: "%s/d", headers: {X-Token: secret}}
    - {name: ce, url: "%s/ce", format: cloudevents, timeout: 5s}
registry: {kind: mem}
`, outbox, maxPending, recv.srv.URL, recv.srv.URL)
	name := filepath.Join(dir, "config.yaml")
	qt.Assert(t, qt.IsNil(os.WriteFile(name, []byte(cfg), 0o666)))
	return name
}

// TestEvents checks that the changes a client makes reach the endpoints
// in both formats, in order, each once, with what they were; that events
// an endpoint refused are delivered again with the same ids once it
// takes them; that events outlive a restart of the server; and that a
// change for which the outbox has no room is refused, not made.
func TestEvents(t *testing.T) {
	recv := startReceiver(t)
	dir := t.TempDir()
	outboxDir := filepath.Join(dir, "outbox")
	s := startServe(t, "--config", writeEventsConfig(t, dir, outboxDir, recv, 100))
	c, err := ociclient.New(s.addr, nil)
	qt.Assert(t, qt.IsNil(err))
	p := ocitest.PushRandomImage(t, c, "app/img", "v1")
	// Config, layer and manifest.
	pushes := len(p.Blobs) + 1
	evs := recv.waitEvents(t, "/d", pushes)
	last := evs[pushes-1]
	qt.Assert(t, qt.Equals(last["action"], any("push")))
	target := last["target"].(map[string]any)
	qt.Check(t, qt.Equals(target["repository"], any("app/img")))
	qt.Check(t, qt.Equals(target["tag"], any("v1")))
	qt.Check(t, qt.Equals(target["digest"], any(string(p.Manifest.Digest))))
	qt.Check(t, qt.Equals(target["mediaType"], any(p.Manifest.MediaType)))
	qt.Check(t, qt.Equals(target["size"], any(float64(p.Manifest.Size))))
	qt.Check(t, qt.Equals(target["url"], any("http://"+s.addr+"/v2/app/img/manifests/"+string(p.Manifest.Digest))))
	qt.Check(t, qt.Equals(last["request"].(map[string]any)["method"], any("PUT")))

	ces := recv.waitEvents(t, "/ce", pushes)
	for i := range ces {
		qt.Check(t, qt.Equals(ces[i]["id"], evs[i]["id"]), qt.Commentf("event %d", i))
	}
	recv.mu.Lock()
	for _, post := range recv.posts {
		if post.path == "/ce" {
			qt.Check(t, qt.Equals(post.contentType, "application/cloudevents+json"))
			qt.Check(t, qt.Equals(post.body["specversion"], any("1.0")))
			qt.Check(t, qt.Equals(post.body["type"], any("io.ocireg.registry.push")))
		} else {
			qt.Check(t, qt.Equals(post.contentType, "application/vnd.docker.distribution.events.v1+json"))
			qt.Check(t, qt.Equals(post.token, "secret"))
		}
	}
	recv.mu.Unlock()

	// While the endpoints refuse them, events wait; they are sent
	// again, with their ids, once the endpoints take them.
	recv.setDown(true)
	ctx := t.Context()
	qt.Assert(t, qt.IsNil(c.DeleteTag(ctx, "app/img", "v1")))
	time.Sleep(1500 * time.Millisecond) // a failed delivery or two
	recv.setDown(false)
	evs = recv.waitEvents(t, "/d", pushes+1)
	del := evs[pushes]
	qt.Assert(t, qt.Equals(del["action"], any("delete")))
	qt.Check(t, qt.Equals(del["target"].(map[string]any)["tag"], any("v1")))

	// Events outlive the server: made while the endpoints are down
	// and the server stops, they are delivered by the next one.
	recv.setDown(true)
	qt.Assert(t, qt.IsNil(c.DeleteManifest(ctx, "app/img", p.Manifest.Digest)))
	s.stop()
	<-s.done
	recv.setDown(false)
	s = startServe(t, "--config", writeEventsConfig(t, dir, outboxDir, recv, 100))
	evs = recv.waitEvents(t, "/d", pushes+2)
	qt.Check(t, qt.Equals(evs[pushes+1]["action"], any("delete")))
	qt.Check(t, qt.Equals(evs[pushes+1]["target"].(map[string]any)["digest"], any(string(p.Manifest.Digest))))
	// Each change has an id of its own, which a delivery made again
	// keeps (a delivery that the stopping server gave up on may yet
	// have reached the endpoint: at least once).
	ids := map[any]bool{}
	for _, ev := range recv.events("/d") {
		ids[ev["id"]] = true
	}
	qt.Check(t, qt.HasLen(ids, pushes+2))

	// With the endpoints down and the outbox full, changes are
	// refused (429) and not made. (The outbox is empty first: both
	// endpoints have taken every event.)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		left, err := filepath.Glob(filepath.Join(outboxDir, "*", "*.json"))
		qt.Assert(t, qt.IsNil(err))
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("events still waiting: %v", left)
		}
	}
	s.stop()
	<-s.done
	recv.setDown(true)
	s = startServe(t, "--config", writeEventsConfig(t, dir, outboxDir, recv, 2))
	c, err = ociclient.New(s.addr, &ociclient.Options{MaxRetries: -1})
	qt.Assert(t, qt.IsNil(err))
	ocitest.PushBlob(t, c, "app/img", []byte("one"))
	ocitest.PushBlob(t, c, "app/img", []byte("two"))
	_, err = c.PushBlob(ctx, "app/img", ociregistry.Descriptor{Digest: ocitest.Digest([]byte("three")), Size: 5}, strings.NewReader("three"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrTooManyRequests))
	_, err = c.ResolveBlob(ctx, "app/img", ocitest.Digest([]byte("three")))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	recv.setDown(false)
	recv.waitEvents(t, "/d", pushes+4)
}

// TestEventsRefused checks that an event that an endpoint refuses for
// good (400, for refusedFor) is dropped rather than hold back the events
// after it, and that the events around it, sent in one batch at first,
// still arrive.
func TestEventsRefused(t *testing.T) {
	// Cleanups run last first: this one after the server has stopped.
	was := refusedFor
	t.Cleanup(func() { refusedFor = was })
	refusedFor = 2 * time.Second
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		data, _ := io.ReadAll(req.Body)
		if strings.Contains(string(data), "poison") {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		var env struct {
			Events []struct {
				Target struct{ Repository string }
			}
		}
		json.Unmarshal(data, &env)
		mu.Lock()
		for _, ev := range env.Events {
			got = append(got, ev.Target.Repository)
		}
		mu.Unlock()
	}))
	defer recv.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("events: {dir: outbox, endpoints: [{name: d, url: %q}]}\nregistry: {kind: mem}\n", recv.URL)
	config := filepath.Join(dir, "config.yaml")
	qt.Assert(t, qt.IsNil(os.WriteFile(config, []byte(cfg), 0o666)))
	s := startServe(t, "--config", config)
	c, err := ociclient.New(s.addr, nil)
	qt.Assert(t, qt.IsNil(err))
	for _, repo := range []string{"a/one", "poison/x", "a/two"} {
		ocitest.PushBlob(t, c, repo, []byte(repo))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	qt.Assert(t, qt.DeepEquals(got, []string{"a/one", "a/two"}))
}

// TestOutboxOrder checks that an event is not handed out for delivery
// while one numbered before it is still being written.
func TestOutboxOrder(t *testing.T) {
	o, err := openOutbox(eventsConfig{dir: t.TempDir(), maxPending: 10, endpoints: []endpointConfig{{name: "d"}}})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(o.reserve()))
	qt.Assert(t, qt.IsNil(o.add(&event{ID: "1"})))
	qt.Assert(t, qt.IsNil(o.reserve()))
	qt.Assert(t, qt.IsNil(o.add(&event{ID: "2"})))
	// As if event 2 were still being written while 3 is done.
	o.mu.Lock()
	o.writing[2] = struct{}{}
	o.queues[0].pending = []uint64{1, 3}
	o.mu.Unlock()
	ns, _ := o.next(0, 10)
	qt.Assert(t, qt.DeepEquals(ns, []uint64{1}))
	o.mu.Lock()
	delete(o.writing, 2)
	o.mu.Unlock()
	// 3's file is not there (it was never written): it is dropped,
	// not handed out, and does not stop the rest.
	ns, _ = o.next(0, 10)
	qt.Assert(t, qt.DeepEquals(ns, []uint64{1}))
	qt.Assert(t, qt.Equals(o.pending(0), 1))
}

// TestOutboxFiles checks what the outbox makes of the files it finds: a
// second server is kept off it, files not of its naming are left alone,
// and a damaged event is dropped rather than hold back the others.
func TestOutboxFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := eventsConfig{dir: dir, maxPending: 10, endpoints: []endpointConfig{{name: "d"}}}
	qt.Assert(t, qt.IsNil(os.MkdirAll(filepath.Join(dir, "d"), 0o700)))
	for name, data := range map[string]string{"7.json": "{}", eventFile(5): "{damaged", eventFile(6): `{"id":"6"}`, "README": "mine"} {
		qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "d", name), []byte(data), 0o600)))
	}
	o, err := openOutbox(cfg)
	qt.Assert(t, qt.IsNil(err))
	defer o.close()
	_, err = openOutbox(cfg)
	qt.Assert(t, qt.ErrorMatches(err, ".*used by another process.*"))

	ns, evs := o.next(0, 10)
	qt.Assert(t, qt.DeepEquals(ns, []uint64{6}))
	qt.Assert(t, qt.Equals(string(evs[0]), `{"id":"6"}`))
	for _, name := range []string{"7.json", "README"} {
		_, err := os.Stat(filepath.Join(dir, "d", name))
		qt.Check(t, qt.IsNil(err), qt.Commentf("%s", name))
	}
}

// TestEventsDeleteUnrecorded checks that a change whose event cannot be
// written is not made, since one made would go untold (and a client
// trying it again may find it made).
func TestEventsDeleteUnrecorded(t *testing.T) {
	dir := t.TempDir()
	o, err := openOutbox(eventsConfig{dir: dir, maxPending: 10, endpoints: []endpointConfig{{name: "d"}}})
	qt.Assert(t, qt.IsNil(err))
	defer o.close()
	mem := ocimem.New()
	reg := withEvents(mem, o, eventSource{}, "http", slog.New(slog.DiscardHandler))
	p := ocitest.PushRandomImage(t, reg, "a/b", "v1")
	// The endpoint's folder can no longer be written.
	qt.Assert(t, qt.IsNil(os.RemoveAll(filepath.Join(dir, "d"))))
	qt.Assert(t, qt.IsNil(os.WriteFile(filepath.Join(dir, "d"), nil, 0o600)))
	_, err = reg.PushManifest(t.Context(), "a/b", "v2", p.Content, p.Manifest.MediaType)
	qt.Assert(t, qt.IsNotNil(err))
	_, err = mem.ResolveTag(t.Context(), "a/b", "v2")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	qt.Assert(t, qt.IsNotNil(reg.DeleteTag(t.Context(), "a/b", "v1")))
	qt.Assert(t, qt.IsNotNil(reg.DeleteManifest(t.Context(), "a/b", p.Manifest.Digest)))
	desc, err := mem.ResolveTag(t.Context(), "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, p.Manifest.Digest))
}

// TestEventsManifestDeleteTags checks that deleting a manifest by digest
// tells of the tags it took with it, as Distribution does.
func TestEventsManifestDeleteTags(t *testing.T) {
	o, err := openOutbox(eventsConfig{dir: t.TempDir(), maxPending: 100, endpoints: []endpointConfig{{name: "d"}}})
	qt.Assert(t, qt.IsNil(err))
	defer o.close()
	reg := withEvents(ocimem.New(), o, eventSource{}, "http", slog.New(slog.DiscardHandler))
	p := ocitest.PushRandomImage(t, reg, "a/b", "one")
	_, err = reg.PushManifest(t.Context(), "a/b", "two", p.Content, p.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	ocitest.PushRandomImage(t, reg, "a/b", "other")
	before := o.pending(0)
	qt.Assert(t, qt.IsNil(reg.DeleteManifest(t.Context(), "a/b", p.Manifest.Digest)))
	ns, evs := o.next(0, 100)
	qt.Assert(t, qt.HasLen(ns, before+3))
	var told []string
	for _, data := range evs[before:] {
		var ev event
		qt.Assert(t, qt.IsNil(json.Unmarshal(data, &ev)))
		qt.Check(t, qt.Equals(ev.Action, "delete"))
		qt.Check(t, qt.Equals(ev.Target.Digest, p.Manifest.Digest))
		told = append(told, ev.Target.Tag)
	}
	qt.Assert(t, qt.DeepEquals(told, []string{"", "one", "two"}))
}
