package ocifs_test

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// lockWait is how long the tests below let a push wait for a lock that
// is held before they count it as stuck.
const lockWait = 300 * time.Millisecond

// TestPushStopsWaitingForGC holds the garbage collector's exclusive lock
// and pushes with a context that ends: the push must give up with the
// context's error instead of waiting for the lock.
func TestPushStopsWaitingForGC(t *testing.T) {
	r, dir := newRegistry(t)
	unlock, err := ocifs.LockGC(t.Context(), dir)
	qt.Assert(t, qt.IsNil(err))
	unlock = sync.OnceFunc(unlock)
	defer unlock()
	ctx, cancel := context.WithTimeout(t.Context(), lockWait)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := pushImageErr(ctx, r, "a", "v1", 1, newRand())
		done <- err
	}()
	select {
	case err := <-done:
		qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))
	case <-time.After(10 * lockWait):
		unlock()
		t.Fatal("the push did not stop waiting when its context ended")
	}

	// A chunked upload whose commit gives up stays, to be committed
	// once the lock is free.
	ctx, cancel = context.WithTimeout(t.Context(), lockWait)
	defer cancel()
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	data := []byte("some data")
	_, err = w.Write(data)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))

	unlock()
	// Once the lock is free the pushes go through.
	pushImage(t, r, "a", "v1", 1)
	w, err = r.PushBlobChunkedResume(t.Context(), "a", w.ID(), int64(len(data)), 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
}

// TestGCLetsPushesThrough stops a garbage collection in the middle of
// its sweep, between two spans of its exclusive lock, and pushes
// meanwhile: the pushes must not wait for the collection to end.
func TestGCLetsPushesThrough(t *testing.T) {
	r, dir := newRegistry(t)
	ctx := t.Context()
	for i := range 3 {
		repo := fmt.Sprintf("g%d", i)
		img := pushImage(t, r, repo, "v", 1)
		qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, repo, img.manifest.Digest)))
	}
	age(t, dir)
	paused := make(chan struct{})
	resume := make(chan struct{})
	var once sync.Once
	ocifs.SetGCHook(r, func() {
		once.Do(func() {
			close(paused)
			<-resume
		})
	})
	gcDone := make(chan error, 1)
	go func() {
		res, err := r.GC(ctx, ocifs.GCOptions{GracePeriod: time.Minute, DeleteUntagged: true})
		if err == nil && len(res.Blobs) == 0 {
			err = errors.New("nothing collected")
		}
		gcDone <- err
	}()
	<-paused
	pushed := make(chan error, 1)
	go func() {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := pushImageErr(pctx, r, "new", "v", 2, newRand())
		pushed <- err
	}()
	select {
	case err := <-pushed:
		qt.Assert(t, qt.IsNil(err))
	case <-time.After(10 * time.Second):
		close(resume)
		t.Fatal("a push waited for the garbage collection to end")
	}
	close(resume)
	qt.Assert(t, qt.IsNil(<-gcDone))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
	_, err := r.ResolveTag(ctx, "new", "v")
	qt.Assert(t, qt.IsNil(err))
}

// TestRepoLocksIndependent holds the lock of one repository and pushes
// into another whose name shared a lock with it when locks were a fixed
// array of 64 picked by hash: the push must not wait.
func TestRepoLocksIndependent(t *testing.T) {
	r, _ := newRegistry(t)
	other := ""
	for i := 0; other == ""; i++ {
		if n := fmt.Sprintf("b%d", i); fnv32a("a")%64 == fnv32a(n)%64 {
			other = n
		}
	}
	unlock, err := ocifs.LockRepo(t.Context(), r, "a")
	qt.Assert(t, qt.IsNil(err))
	defer unlock()
	done := make(chan error, 1)
	go func() {
		_, err := pushImageErr(t.Context(), r, other, "v", 1, newRand())
		done <- err
	}()
	select {
	case err := <-done:
		qt.Assert(t, qt.IsNil(err))
	case <-time.After(10 * lockWait):
		t.Fatalf("a push into %s waited for the lock of a", other)
	}
}

func fnv32a(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// TestRepoLockAcrossRegistries holds a repository's lock through one
// Registry: a tagged push into the repository through another Registry
// on the same directory must wait for it, and stop waiting when its
// context ends.
func TestRepoLockAcrossRegistries(t *testing.T) {
	r1, dir := newRegistry(t)
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	unlock, err := ocifs.LockRepo(t.Context(), r1, "a")
	qt.Assert(t, qt.IsNil(err))
	ctx, cancel := context.WithTimeout(t.Context(), lockWait)
	defer cancel()
	_, err = pushImageErr(ctx, r2, "a", "v", 1, newRand())
	qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))
	unlock()
	pushImage(t, r2, "a", "v", 1)
}

// TestTwoRegistriesRace has two Registry values on one directory race:
// one deletes a manifest while the other pushes it again under a tag.
// Whatever the order, no tag may be left pointing at a manifest that is
// not there.
func TestTwoRegistriesRace(t *testing.T) {
	ctx := t.Context()
	r1, dir := newRegistry(t)
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	img := pushImage(t, r1, "a", "", 1)
	rd, err := r1.GetManifest(ctx, "a", img.manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	data := readAll(t, rd)
	for i := range 40 {
		var wg sync.WaitGroup
		tag := fmt.Sprintf("t%d", i)
		wg.Go(func() {
			r1.DeleteManifest(ctx, "a", img.manifest.Digest)
		})
		wg.Go(func() {
			_, err := r2.PushManifest(ctx, "a", tag, data, img.manifest.MediaType)
			qt.Check(t, qt.IsNil(err))
		})
		wg.Wait()
		for _, r := range []*ocifs.Registry{r1, r2} {
			tags, err := ociregistry.All(r.Tags(ctx, "a", ""))
			if err != nil {
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
			}
			for _, tag := range tags {
				desc, err := r.ResolveTag(ctx, "a", tag)
				qt.Assert(t, qt.IsNil(err))
				_, err = r.GetManifest(ctx, "a", desc.Digest)
				qt.Assert(t, qt.IsNil(err), qt.Commentf("round %d: tag %s dangles", i, tag))
			}
		}
		qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)), qt.Commentf("round %d", i))
	}
}

// TestTwoServersRace is TestTwoRegistriesRace over HTTP, as users meet
// it: two servers on one directory, one answering DELETE of a manifest
// while the other answers a PUT of it under a tag.
func TestTwoServersRace(t *testing.T) {
	ctx := t.Context()
	r1, dir := newRegistry(t)
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	img := pushImage(t, r1, "a", "", 1)
	rd, err := r1.GetManifest(ctx, "a", img.manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	data := readAll(t, rd)
	base1 := "http://" + ocitest.NewServer(t, r1) + "/v2/a/manifests/"
	base2 := "http://" + ocitest.NewServer(t, r2) + "/v2/a/manifests/"
	for i := range 30 {
		tag := fmt.Sprintf("t%d", i)
		var wg sync.WaitGroup
		wg.Go(func() {
			req, _ := http.NewRequest("DELETE", base1+string(img.manifest.Digest), nil)
			resp, err := http.DefaultClient.Do(req)
			if qt.Check(t, qt.IsNil(err)) {
				resp.Body.Close()
			}
		})
		wg.Go(func() {
			status, body := putManifest(t, base2+tag, img.manifest.MediaType, data)
			qt.Check(t, qt.Equals(status, http.StatusCreated), qt.Commentf("%s", body))
		})
		wg.Wait()
		for _, base := range []string{base1, base2} {
			resp, err := http.Get(base + tag)
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			if resp.StatusCode == http.StatusNotFound {
				continue
			}
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
			resp, err = http.Get(base + resp.Header.Get("Docker-Content-Digest"))
			qt.Assert(t, qt.IsNil(err))
			resp.Body.Close()
			qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK), qt.Commentf("round %d: tag %s dangles", i, tag))
		}
		qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)), qt.Commentf("round %d", i))
	}
}
