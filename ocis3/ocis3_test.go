package ocis3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocis3"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// replicas returns n registries over the same bucket and prefix, as n
// replicas of one registry would be.
func replicas(t *testing.T, g *gateway, n int, mod func(*ocis3.Config)) []*ocis3.Registry {
	cfg := g.config()
	if mod != nil {
		mod(&cfg)
	}
	rs := make([]*ocis3.Registry, n)
	for i := range rs {
		r, err := ocis3.New(context.Background(), cfg)
		qt.Assert(t, qt.IsNil(err))
		rs[i] = r
	}
	return rs
}

func readBlob(t *testing.T, r ociregistry.Interface, repo string, d ociregistry.Digest) []byte {
	t.Helper()
	rd, err := r.GetBlob(context.Background(), repo, d)
	qt.Assert(t, qt.IsNil(err))
	defer rd.Close()
	data, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	return data
}

// TestChunkedAcrossReplicas writes the chunks of one upload through
// different replicas, in sizes below and above S3's 5 MiB part minimum,
// so that the commit both concatenates small parts and copies big ones;
// the blob then reads back from a third replica, with either algorithm.
func TestChunkedAcrossReplicas(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			rs := replicas(t, g, 3, nil)
			ctx := context.Background()
			chunks := [][]byte{randomBytes(1 << 20), randomBytes(3 << 20), randomBytes(9 << 20), randomBytes(100), randomBytes(6 << 20), randomBytes(2 << 20)}
			var all []byte
			w, err := rs[0].PushBlobChunked(ctx, "a/b", 0)
			qt.Assert(t, qt.IsNil(err))
			id := w.ID()
			qt.Assert(t, qt.IsNil(w.Close()))
			for i, c := range chunks {
				w, err := rs[i%3].PushBlobChunkedResume(ctx, "a/b", id, int64(len(all)), 0)
				qt.Assert(t, qt.IsNil(err))
				_, err = io.Copy(w, bytes.NewReader(c))
				qt.Assert(t, qt.IsNil(err))
				all = append(all, c...)
				qt.Assert(t, qt.Equals(w.Size(), int64(len(all))))
				qt.Assert(t, qt.IsNil(w.Close()))
			}
			// A resume at the wrong offset is refused.
			_, err = rs[1].PushBlobChunkedResume(ctx, "a/b", id, 5, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
			// The last chunk goes with the commit, as a PUT sends it.
			last := randomBytes(12345)
			all = append(all, last...)
			w, err = rs[1].PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
			qt.Assert(t, qt.IsNil(err))
			_, err = w.Write(last)
			qt.Assert(t, qt.IsNil(err))
			_, err = w.Commit(alg.FromBytes(append(slices.Clone(all), 'x')))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
			desc, err := w.Commit(alg.FromBytes(all))
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.Equals(desc.Size, int64(len(all))))
			got := readBlob(t, rs[2], "a/b", desc.Digest)
			qt.Assert(t, qt.IsTrue(bytes.Equal(got, all)))
			// The upload is gone once committed.
			_, err = rs[2].PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
		})
	}
}

// TestUploadRace resumes one upload on two replicas at once: the second
// to close loses, with ErrBlobUploadInvalid, and the upload holds
// exactly the winner's data.
func TestUploadRace(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rs := replicas(t, g, 2, nil)
	ctx := context.Background()
	w, err := rs[0].PushBlobChunked(ctx, "race", 0)
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))
	w0, err := rs[0].PushBlobChunkedResume(ctx, "race", id, 0, 0)
	qt.Assert(t, qt.IsNil(err))
	w1, err := rs[1].PushBlobChunkedResume(ctx, "race", id, 0, 0)
	qt.Assert(t, qt.IsNil(err))
	a, b := randomBytes(1000), randomBytes(2000)
	w0.Write(a)
	w1.Write(b)
	qt.Assert(t, qt.IsNil(w0.Close()))
	qt.Assert(t, qt.ErrorIs(w1.Close(), ociregistry.ErrBlobUploadInvalid))
	w, err = rs[1].PushBlobChunkedResume(ctx, "race", id, -1, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.Size(), int64(len(a))))
	desc, err := w.Commit(digest.FromBytes(a))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(readBlob(t, rs[0], "race", desc.Digest), a))
}

// TestPushLarge pushes blobs bigger than a part in one go, which go to
// S3 as multipart uploads: content that matches is stored and reads back
// whole and in ranges; content that does not match leaves neither an
// object nor an unfinished multipart upload behind.
func TestPushLarge(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	data := randomBytes(20<<20 + 17)
	d := digest.FromBytes(data)

	bad := slices.Clone(data)
	bad[len(bad)-1] ^= 1
	_, err := r.PushBlob(ctx, "big", ociregistry.Descriptor{Digest: d, Size: int64(len(bad))}, bytes.NewReader(bad))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	_, err = r.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(ocis3.BlobKey(r, d))})
	qt.Assert(t, qt.IsNotNil(err))
	mpus, err := r.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(mpus.Uploads, 0))

	desc, err := r.PushBlob(ctx, "big", ociregistry.Descriptor{Digest: d, Size: int64(len(data))}, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	qt.Assert(t, qt.IsTrue(bytes.Equal(readBlob(t, r, "big", d), data)))
	for _, rg := range [][2]int64{{0, 1}, {8<<20 - 5, 8<<20 + 5}, {20 << 20, -1}, {int64(len(data)), -1}} {
		rd, err := r.GetBlobRange(ctx, "big", d, rg[0], rg[1])
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(rd)
		rd.Close()
		qt.Assert(t, qt.IsNil(err))
		end := rg[1]
		if end < 0 {
			end = int64(len(data))
		}
		qt.Assert(t, qt.IsTrue(bytes.Equal(got, data[rg[0]:end])), qt.Commentf("range %v", rg))
	}
	// Pushed again, to another repository, the content is only checked.
	_, err = r.PushBlob(ctx, "other", ociregistry.Descriptor{Digest: d, Size: int64(len(bad))}, bytes.NewReader(bad))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	_, err = r.ResolveBlob(ctx, "other", d)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.PushBlob(ctx, "other", ociregistry.Descriptor{Digest: d, Size: int64(len(data))}, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(readBlob(t, r, "other", d), data)))
}

// TestPushBlobRefused pushes content that does not match its descriptor,
// in one streamed PUT (up to 5 GiB) and in a multipart upload (of
// unknown size): the push fails with the right error and leaves no
// object, link or multipart upload behind.
func TestPushBlobRefused(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	data := randomBytes(9<<20 + 3)
	d := digest.FromBytes(data)
	flipped := slices.Clone(data)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		content []byte
		size    int64
		want    error
	}{
		{"last byte changed", flipped, int64(len(data)), ociregistry.ErrDigestInvalid},
		{"short", data[:len(data)-1], int64(len(data)), ociregistry.ErrSizeInvalid},
		{"long", append(slices.Clone(data), 0), int64(len(data)), ociregistry.ErrSizeInvalid},
		{"unknown size, last byte changed", flipped, -1, ociregistry.ErrDigestInvalid},
	}
	for _, test := range tests {
		_, err := r.PushBlob(ctx, "refused", ociregistry.Descriptor{Digest: d, Size: test.size}, bytes.NewReader(test.content))
		qt.Assert(t, qt.ErrorIs(err, test.want), qt.Commentf("%s", test.name))
		_, err = r.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(ocis3.BlobKey(r, d))})
		qt.Assert(t, qt.IsNotNil(err), qt.Commentf("%s", test.name))
		_, err = r.ResolveBlob(ctx, "refused", d)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown), qt.Commentf("%s", test.name))
		mpus, err := r.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(testBucket)})
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.HasLen(mpus.Uploads, 0), qt.Commentf("%s", test.name))
	}
	// The store checks the content against the digest as well, so that
	// a body cut short, which a store may keep as if whole, makes no
	// object either.
	err := r.PutStreamedUnchecked(ctx, d, flipped)
	qt.Assert(t, qt.IsNotNil(err))
	_, err = r.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(ocis3.BlobKey(r, d))})
	qt.Assert(t, qt.IsNotNil(err))

	// The content itself is then stored.
	_, err = r.PushBlob(ctx, "refused", ociregistry.Descriptor{Digest: d, Size: int64(len(data))}, bytes.NewReader(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(readBlob(t, r, "refused", d), data)))

	// A push that finds the object made meanwhile by another (the
	// store refuses its PUT, maybe before reading the body) still
	// checks what it was sent.
	qt.Assert(t, qt.IsNil(r.PutStreamed(ctx, d, data)))
	qt.Assert(t, qt.ErrorIs(r.PutStreamed(ctx, d, flipped), ociregistry.ErrDigestInvalid))
	qt.Assert(t, qt.IsTrue(bytes.Equal(readBlob(t, r, "refused", d), data)))
}

// TestManifestCacheNeverStale reads manifests through one replica while
// another moves their tag and deletes them: what the reader holds in
// memory never hides a change.
func TestManifestCacheNeverStale(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rs := replicas(t, g, 2, nil)
	writer, reader := rs[0], rs[1]
	ctx := context.Background()
	const repo = "cache"
	m1 := ocitest.PushRandomImage(t, writer, repo, "latest")
	m2 := ocitest.PushRandomImage(t, writer, repo, "")
	getTag := func() (ociregistry.Digest, error) {
		rd, err := reader.GetTag(ctx, repo, "latest")
		if err != nil {
			return "", err
		}
		defer rd.Close()
		data, err := io.ReadAll(rd)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(digest.FromBytes(data), rd.Descriptor().Digest))
		return rd.Descriptor().Digest, nil
	}
	for range 2 {
		d, err := getTag()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(d, m1.Manifest.Digest))
	}
	_, err := writer.PushManifest(ctx, repo, "latest", m2.Content, m2.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	d, err := getTag()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(d, m2.Manifest.Digest))

	// Back to the first, whose content the reader holds.
	_, err = writer.PushManifest(ctx, repo, "latest", m1.Content, m1.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	d, err = getTag()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(d, m1.Manifest.Digest))

	rd, err := reader.GetManifest(ctx, repo, m1.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	rd.Close()
	qt.Assert(t, qt.IsNil(writer.DeleteManifest(ctx, repo, m1.Manifest.Digest)))
	_, err = getTag()
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = reader.GetManifest(ctx, repo, m1.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	// The same content in another repository is that repository's.
	_, err = reader.GetManifest(ctx, "elsewhere", m1.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// TestTagsNeverDangle moves one tag between manifests from several
// replicas while others delete those manifests: whatever the
// interleaving, the tag, when there, names a manifest that is there.
func TestTagsNeverDangle(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rs := replicas(t, g, 4, nil)
	ctx := context.Background()
	const repo = "dangle"
	var manifests []ocitest.Pushed
	for range 3 {
		manifests = append(manifests, ocitest.PushRandomImage(t, rs[0], repo, ""))
	}
	const rounds = 30
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range rounds {
				m := manifests[(i+n)%len(manifests)]
				if i%2 == 0 {
					if _, err := r.PushManifest(ctx, repo, "latest", m.Content, m.Manifest.MediaType); err != nil {
						t.Errorf("push: %v", err)
					}
				} else {
					err := r.DeleteManifest(ctx, repo, m.Manifest.Digest)
					if err != nil && !errors.Is(err, ociregistry.ErrManifestUnknown) {
						t.Errorf("delete: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	desc, err := rs[1].ResolveTag(ctx, repo, "latest")
	if errors.Is(err, ociregistry.ErrManifestUnknown) {
		return
	}
	qt.Assert(t, qt.IsNil(err))
	_, err = rs[2].ResolveManifest(ctx, repo, desc.Digest)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("tag latest names %s, which is gone", desc.Digest))
}

// pauseTransport holds a request whose method and URL path suffix match
// (or, with listing set, a listing whose prefix contains it) until
// release is closed, after telling reached.
type pauseTransport struct {
	method, suffix   string
	listing          string
	reached, release chan struct{}
	once             sync.Once
}

func (p *pauseTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	match := strings.HasSuffix(req.URL.Path, p.suffix)
	if p.listing != "" {
		match = strings.Contains(req.URL.Query().Get("prefix"), p.listing)
	}
	if req.Method == p.method && match {
		p.once.Do(func() {
			close(p.reached)
			<-p.release
		})
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestTagNamesStoredManifest makes a DeleteManifest run on one replica
// after another has stored the manifest but before it writes the tag:
// the push must not leave its tag naming a manifest that is gone. It
// stores the manifest again and succeeds.
func TestTagNamesStoredManifest(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	pause := &pauseTransport{method: "PUT", suffix: "/_tags/latest", reached: make(chan struct{}), release: make(chan struct{})}
	cfg := g.config()
	deleter, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	cfg.AWS = g.awsConfig(pause)
	pusher, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	ctx := context.Background()
	m := ocitest.PushRandomImage(t, deleter, "repo", "")
	done := make(chan error, 1)
	go func() {
		_, err := pusher.PushManifest(ctx, "repo", "latest", m.Content, m.Manifest.MediaType)
		done <- err
	}()
	<-pause.reached
	qt.Assert(t, qt.IsNil(deleter.DeleteManifest(ctx, "repo", m.Manifest.Digest)))
	close(pause.release)
	qt.Assert(t, qt.IsNil(<-done))
	desc, err := deleter.ResolveTag(ctx, "repo", "latest")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, m.Manifest.Digest))
	rd, err := deleter.GetManifest(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err), qt.Commentf("tag latest names %s, which is gone", desc.Digest))
	rd.Close()
}

// TestPushOverlappingDelete runs a push of an artifact with a tag while
// a DeleteManifest of it on another replica has removed the manifest
// but not yet its tags and referrer entry. The push must come after the
// delete whole: the manifest, its tag and its referrer entry all there.
func TestPushOverlappingDelete(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	pause := &pauseTransport{method: "GET", listing: "/_tags/", reached: make(chan struct{}), release: make(chan struct{})}
	waiting := &pauseTransport{method: "GET", listing: "/_deleting/", reached: make(chan struct{}), release: make(chan struct{})}
	close(waiting.release)
	o := newOverlap(t, g, pause, waiting)
	// The push either ends or looks for the delete's marker; only then
	// does the delete go on to the tags.
	deleteErr, pushErr := runOverlap(o, pause, 0, waiting.reached)
	qt.Assert(t, qt.IsNil(deleteErr))
	qt.Assert(t, qt.IsNil(pushErr))
	assertWhole(t, o.deleter, "repo", o.art, o.subject.Manifest.Digest, "latest", true)
}

// overlap is a DeleteManifest and a PushManifest (with tag latest) of
// one artifact through two replicas.
type overlap struct {
	deleter, pusher *ocis3.Registry
	subject, art    ocitest.Pushed
}

// newOverlap makes the deleter, whose requests go through pause, and
// the pusher, whose requests go through pusherRT (nil: straight), and
// pushes an artifact and its subject.
func newOverlap(t *testing.T, g *gateway, pause *pauseTransport, pusherRT http.RoundTripper) *overlap {
	cfg := g.config()
	cfg.AWS = g.awsConfig(pause)
	deleter, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	cfg.AWS = g.awsConfig(pusherRT)
	pusher, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	subject := ocitest.PushRandomImage(t, pusher, "repo", "")
	art := ocitest.PushRandomArtifact(t, pusher, "repo", subject.Manifest, "application/x.test")
	return &overlap{deleter: deleter, pusher: pusher, subject: subject, art: art}
}

// runOverlap starts the delete and, once pause holds it and wait has
// passed, the push; it lets the delete go on once the push has ended or
// pushWaits yields, and returns the errors of both.
func runOverlap[T any](o *overlap, pause *pauseTransport, wait time.Duration, pushWaits <-chan T) (deleteErr, pushErr error) {
	ctx := context.Background()
	deleted := make(chan error, 1)
	go func() { deleted <- o.deleter.DeleteManifest(ctx, "repo", o.art.Manifest.Digest) }()
	<-pause.reached
	time.Sleep(wait)
	pushed := make(chan error, 1)
	go func() {
		_, err := o.pusher.PushManifest(ctx, "repo", "latest", o.art.Content, o.art.Manifest.MediaType)
		pushed <- err
	}()
	select {
	case err := <-pushed:
		pushed <- err
	case <-pushWaits:
	}
	close(pause.release)
	return <-deleted, <-pushed
}

// TestStalledDelete holds a DeleteManifest's removal of a tag for
// longer than its marker's lease, then pushes the manifest with that tag
// through another replica: the push must not take the delete for dead
// while its requests may still land, and the two must end as one whole
// after the other.
func TestStalledDelete(t *testing.T) {
	g := startGateway(t)
	defer ocis3.SetDeletionLease(2 * time.Second)()
	pause := &pauseTransport{method: "DELETE", suffix: "/_tags/latest", reached: make(chan struct{}), release: make(chan struct{})}
	o := newOverlap(t, g, pause, nil)
	_, err := o.pusher.PushManifest(context.Background(), "repo", "latest", o.art.Content, o.art.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	// Longer than the lease; the push may wait for a second before the
	// delete goes on.
	_, pushErr := runOverlap(o, pause, 2500*time.Millisecond, time.After(3500*time.Millisecond))
	// The delete may fail (its request outlived its time), but the
	// push must succeed, after it.
	qt.Assert(t, qt.IsNil(pushErr))
	assertWhole(t, o.pusher, "repo", o.art, o.subject.Manifest.Digest, "latest", true)
}

// failTransport fails every request whose method and URL path contains
// match.
type failTransport struct{ method, match string }

func (f failTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == f.method && strings.Contains(req.URL.Path, f.match) {
		return nil, errors.New("replica died")
	}
	return http.DefaultTransport.RoundTrip(req)
}

// TestDeleteCutShort cuts a DeleteManifest short: a client that goes
// away leaves it to finish, and one whose replica fails before removing
// the manifest leaves the manifest (without the tags it removed) to be
// deleted again, never a tag naming a manifest that is gone.
func TestDeleteCutShort(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := context.Background()
	cfg := g.config()
	r, err := ocis3.New(ctx, cfg)
	qt.Assert(t, qt.IsNil(err))
	img := ocitest.PushRandomImage(t, r, "repo", "")
	for _, tag := range []string{"a", "b", "c"} {
		_, err := r.PushManifest(ctx, "repo", tag, img.Content, img.Manifest.MediaType)
		qt.Assert(t, qt.IsNil(err))
	}

	// The client goes away while the tags are removed.
	pause := &pauseTransport{method: "DELETE", suffix: "/_tags/a", reached: make(chan struct{}), release: make(chan struct{})}
	cfg.AWS = g.awsConfig(pause)
	paused, err := ocis3.New(ctx, cfg)
	qt.Assert(t, qt.IsNil(err))
	cctx, cancel := context.WithCancel(ctx)
	deleted := make(chan error, 1)
	go func() { deleted <- paused.DeleteManifest(cctx, "repo", img.Manifest.Digest) }()
	<-pause.reached
	cancel()
	close(pause.release)
	qt.Assert(t, qt.IsNil(<-deleted))
	_, err = r.ResolveManifest(ctx, "repo", img.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	tags, err := ociregistry.All(r.Tags(ctx, "repo", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(tags, 0))

	// The replica fails before it removes the manifest.
	_, err = r.PushManifest(ctx, "repo", "a", img.Content, img.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	cfg.AWS = g.awsConfig(failTransport{method: "DELETE", match: "/_manifests/"})
	failing, err := ocis3.New(ctx, cfg)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNotNil(failing.DeleteManifest(ctx, "repo", img.Manifest.Digest)))
	_, err = r.ResolveTag(ctx, "repo", "a")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.ResolveManifest(ctx, "repo", img.Manifest.Digest)
	qt.Assert(t, qt.IsNil(err))
	// A marker left by a failed delete holds pushes back, not deletes.
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "repo", img.Manifest.Digest)))
	_, err = r.ResolveManifest(ctx, "repo", img.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// TestFirstMediaTypeRace pushes content that names no media type of its
// own as two types at once: both copies of the manifest (sha256 and
// sha512) and both tags end with the same one.
func TestFirstMediaTypeRace(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	ctx := context.Background()
	cfg := g.config()
	plain, err := ocis3.New(ctx, cfg)
	qt.Assert(t, qt.IsNil(err))
	config := ocitest.PushBlob(t, plain, "repo", []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	content, err := json.Marshal(map[string]any{"schemaVersion": 2, "config": config, "layers": []any{}})
	qt.Assert(t, qt.IsNil(err))
	d256, d512 := digest.SHA256.FromBytes(content), digest.SHA512.FromBytes(content)

	// The first push stops after writing the sha512 copy.
	pause := &pauseTransport{method: "PUT", suffix: "/_manifests/sha256/" + d256.Encoded(), reached: make(chan struct{}), release: make(chan struct{})}
	cfg.AWS = g.awsConfig(pause)
	first, err := ocis3.New(ctx, cfg)
	qt.Assert(t, qt.IsNil(err))
	done := make(chan error, 1)
	go func() {
		_, err := first.PushManifest(ctx, "repo", "a", content, "application/vnd.oci.image.manifest.v1+json")
		done <- err
	}()
	<-pause.reached
	_, err = plain.PushManifest(ctx, "repo", "b", content, "application/vnd.docker.distribution.manifest.v2+json")
	qt.Assert(t, qt.IsNil(err))
	close(pause.release)
	qt.Assert(t, qt.IsNil(<-done))
	for _, d := range []digest.Digest{d256, d512} {
		desc, err := plain.ResolveManifest(ctx, "repo", d)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(desc.MediaType, "application/vnd.oci.image.manifest.v1+json"), qt.Commentf("%s", d.Algorithm()))
	}
	for _, tag := range []string{"a", "b"} {
		desc, err := plain.ResolveTag(ctx, "repo", tag)
		qt.Assert(t, qt.IsNil(err))
		qt.Check(t, qt.Equals(desc.MediaType, "application/vnd.oci.image.manifest.v1+json"), qt.Commentf("tag %s", tag))
	}
}

// assertWhole checks that an artifact's manifest, its tag and its entry
// among its subject's referrers are all in repo, or all gone.
func assertWhole(t *testing.T, r *ocis3.Registry, repo string, art ocitest.Pushed, subject ociregistry.Digest, tag string, want bool) {
	t.Helper()
	ctx := context.Background()
	_, err := r.ResolveManifest(ctx, repo, art.Manifest.Digest)
	qt.Check(t, qt.Equals(err == nil, want), qt.Commentf("manifest: %v", err))
	desc, err := r.ResolveTag(ctx, repo, tag)
	qt.Check(t, qt.Equals(err == nil && desc.Digest == art.Manifest.Digest, want), qt.Commentf("tag %s: %v %v", tag, desc.Digest, err))
	listed := false
	for d, err := range r.Referrers(ctx, repo, subject, "") {
		qt.Assert(t, qt.IsNil(err))
		listed = listed || d.Digest == art.Manifest.Digest
	}
	qt.Check(t, qt.Equals(listed, want), qt.Commentf("listed among the referrers of %s", subject))
}

// TestPushDeleteRace pushes (with a tag each) and deletes three
// artifacts of one subject through four replicas at once: whatever the
// order, each artifact ends with its manifest, tag and referrer entry
// all there or all gone, as after some sequence of whole pushes and
// deletes.
func TestPushDeleteRace(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	rs := replicas(t, g, 4, nil)
	ctx := context.Background()
	const repo = "race"
	subject := ocitest.PushRandomImage(t, rs[0], repo, "")
	var arts []ocitest.Pushed
	for range 3 {
		arts = append(arts, ocitest.PushRandomArtifact(t, rs[0], repo, subject.Manifest, "application/x.test"))
	}
	tag := func(i int) string { return fmt.Sprintf("t%d", i) }
	const rounds = 20
	var wg sync.WaitGroup
	for i, r := range rs {
		wg.Go(func() {
			for n := range rounds {
				k := (i + n) % len(arts)
				if (i+n/3)%2 == 0 {
					if _, err := r.PushManifest(ctx, repo, tag(k), arts[k].Content, arts[k].Manifest.MediaType); err != nil {
						t.Errorf("push: %v", err)
					}
				} else if err := r.DeleteManifest(ctx, repo, arts[k].Manifest.Digest); err != nil && !errors.Is(err, ociregistry.ErrManifestUnknown) {
					t.Errorf("delete: %v", err)
				}
			}
		})
	}
	wg.Wait()
	for k, art := range arts {
		_, err := rs[1].ResolveManifest(ctx, repo, art.Manifest.Digest)
		assertWhole(t, rs[2], repo, art, subject.Manifest.Digest, tag(k), err == nil)
	}
}

// TestRedirect serves a registry configured with redirects: blob GETs
// answer 307 to a presigned URL that serves the content, ranges
// included, while HEAD answers itself.
func TestRedirect(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.newRegistry(t, func(c *ocis3.Config) { c.Redirect = true })
	data := randomBytes(100000)
	desc := ocitest.PushBlob(t, r, "redir", data)
	host := ocitest.NewServer(t, r)
	url := "http://" + host + "/v2/redir/blobs/" + string(desc.Digest)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := noFollow.Get(url)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusTemporaryRedirect))
	qt.Assert(t, qt.StringContains(resp.Header.Get("Location"), g.endpoint+"/"))

	resp, err = http.Get(url)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))

	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", "bytes=10-19")
	resp, err = http.DefaultClient.Do(req)
	qt.Assert(t, qt.IsNil(err))
	got, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusPartialContent))
	qt.Assert(t, qt.DeepEquals(got, data[10:20]))

	resp, err = noFollow.Head(url)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusOK))
	qt.Assert(t, qt.Equals(resp.Header.Get("Docker-Content-Digest"), string(desc.Digest)))
}

// TestGC collects what no manifest refers to, keeps what one does even
// when another repository let go of it, and leaves alone what is newer
// than the grace period.
func TestGC(t *testing.T) {
	g := startGateway(t)
	defer ocis3.SetClockSlack(0)()
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	img := ocitest.PushRandomImage(t, r, "keep", "v1")
	layer := img.Blobs[len(img.Blobs)-1]
	orphan := ocitest.PushBlob(t, r, "keep", randomBytes(3000))
	// A blob of "keep" pushed to "one" and deleted there stays.
	ocitest.PushBlob(t, r, "one", img.BlobContent[layer.Digest])
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "one", layer.Digest)))
	deleted := ocitest.PushBlob(t, r, "one", randomBytes(1000))
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "one", deleted.Digest)))
	// A blob linked by a repository without manifests goes with its link.
	unused := ocitest.PushBlob(t, r, "two", randomBytes(2000))

	// Within the grace period nothing goes.
	res, err := r.GC(ctx, ocis3.GCOptions{GracePeriod: time.Hour})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(res, ocis3.GCResult{}))

	time.Sleep(1100 * time.Millisecond)
	// The collections start, as far as they know, right after fresh is
	// pushed, however slowly they run.
	freshAt := time.Now()
	fresh := ocitest.PushBlob(t, r, "keep", randomBytes(500))
	defer ocis3.SetGCNow(freshAt)()
	opts := ocis3.GCOptions{GracePeriod: time.Second, DryRun: true}
	dry, err := r.GC(ctx, opts)
	qt.Assert(t, qt.IsNil(err))
	opts.DryRun = false
	res, err = r.GC(ctx, opts)
	qt.Assert(t, qt.IsNil(err))
	want := []ociregistry.Digest{orphan.Digest, deleted.Digest, unused.Digest}
	slices.Sort(want)
	qt.Assert(t, qt.DeepEquals(res.Blobs, want))
	qt.Assert(t, qt.Equals(res.BlobLinks, 2))
	qt.Assert(t, qt.Equals(res.BytesFreed, int64(3000+1000+2000)))
	qt.Assert(t, qt.DeepEquals(dry, res))
	for _, b := range img.Blobs {
		qt.Assert(t, qt.DeepEquals(readBlob(t, r, "keep", b.Digest), img.BlobContent[b.Digest]))
	}
	qt.Assert(t, qt.HasLen(readBlob(t, r, "keep", fresh.Digest), 500))
	for _, c := range []struct {
		repo string
		d    ociregistry.Digest
	}{{"keep", orphan.Digest}, {"two", unused.Digest}} {
		_, err := r.ResolveBlob(ctx, c.repo, c.d)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	}
	// A second collection finds nothing more that is older than the
	// blobs pushed for this test.
	res, err = r.GC(ctx, ocis3.GCOptions{GracePeriod: time.Minute})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(res, ocis3.GCResult{}))
}

// TestDeletionOfDeadReplica leaves the marker of a DeleteManifest whose
// replica died: a push of that manifest waits while the marker holds,
// ends whole once it has gone stale, and the garbage collector removes
// the marker.
func TestDeletionOfDeadReplica(t *testing.T) {
	g := startGateway(t)
	defer ocis3.SetDeletionLease(2 * time.Second)()
	defer ocis3.SetClockSlack(0)()
	cfg := g.config()
	r, err := ocis3.New(context.Background(), cfg)
	qt.Assert(t, qt.IsNil(err))
	ctx := context.Background()
	img := ocitest.PushRandomImage(t, r, "repo", "")
	qt.Assert(t, qt.IsNil(r.MarkDeletion(ctx, "repo", img.Manifest.Digest)))
	markers := func() int {
		out, err := r.Client().ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(testBucket), Prefix: aws.String(cfg.Prefix + "/repos/repo/_deleting/")})
		qt.Assert(t, qt.IsNil(err))
		return len(out.Contents)
	}
	qt.Assert(t, qt.Equals(markers(), 1))

	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = r.PushManifest(short, "repo", "v1", img.Content, img.Manifest.MediaType)
	cancel()
	qt.Assert(t, qt.ErrorIs(err, context.DeadlineExceeded))
	_, err = r.PushManifest(ctx, "repo", "v1", img.Content, img.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	desc, err := r.ResolveTag(ctx, "repo", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img.Manifest.Digest))

	defer ocis3.SetGCNow(time.Now())()
	_, err = r.GC(ctx, ocis3.GCOptions{GracePeriod: time.Hour})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(markers(), 0))
}

// TestFence holds gc/state as a collection does, removes a blob's
// content behind a mount's back while the mount waits, and checks that
// the mount then fails rather than leave a link to nothing.
// mountWhileCollecting pushes a blob to repository "from" of a new
// registry, takes gc/state as a collection would and starts mounting the
// blob into "to", whose outcome done receives; release lets gc/state go.
func mountWhileCollecting(t *testing.T) (r *ocis3.Registry, desc ociregistry.Descriptor, release func() error, done chan error) {
	g := startGateway(t)
	r = g.newRegistry(t, nil)
	ctx := context.Background()
	desc = ocitest.PushBlob(t, r, "from", randomBytes(100))
	release, err := r.HoldGCState(ctx)
	qt.Assert(t, qt.IsNil(err))
	done = make(chan error, 1)
	go func() {
		_, err := r.MountBlob(ctx, "from", "to", desc.Digest)
		done <- err
	}()
	return r, desc, release, done
}

func TestFence(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, desc, release, done := mountWhileCollecting(t)
	select {
	case err := <-done:
		t.Fatalf("mount finished while a collection held gc/state: %v", err)
	case <-time.After(time.Second):
	}
	_, err := r.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(ocis3.BlobKey(r, desc.Digest))})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(release()))
	qt.Assert(t, qt.ErrorIs(<-done, ociregistry.ErrBlobUnknown))
	_, err = r.ResolveBlob(ctx, "to", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

// TestCommitCancelled checks that completing an upload that another
// replica cancels meanwhile answers that the upload is unknown, as it
// would be a moment later, rather than fail as the server's own error.
func TestCommitCancelled(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			rs := replicas(t, g, 2, nil)
			ctx := context.Background()
			data := randomBytes(12 << 20)
			w, err := rs[0].PushBlobChunked(ctx, "a/b", 0)
			qt.Assert(t, qt.IsNil(err))
			id := w.ID()
			_, err = w.Write(data)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsNil(w.Close()))
			final, err := rs[0].PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
			qt.Assert(t, qt.IsNil(err))
			other, err := rs[1].PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsNil(other.Cancel()))
			_, err = final.Commit(alg.FromBytes(data))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
		})
	}
}

// TestFenceLinkCollected checks that a push of content already in the
// bucket that a collection overlapped answers only once its link is
// there: a collection that outlasted the grace period may have taken the
// link for an old one that nothing uses, and the push links it again.
func TestFenceLinkCollected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, desc, release, done := mountWhileCollecting(t)
	// The mount has linked the blob and waits for the collection,
	// which removes the link.
	linkKey := ocis3.BlobLinkKey(r, "to", desc.Digest)
	for {
		_, err := r.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(testBucket), Key: aws.String(linkKey)})
		if err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := r.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(testBucket), Key: aws.String(linkKey)})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(release()))
	qt.Assert(t, qt.IsNil(<-done))
	_, err = r.ResolveBlob(ctx, "to", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
}

// TestFenceBackToBack checks that a push waits only for the collection
// that overlapped it, not for the ones that start after it, run back to
// back.
func TestFenceBackToBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, _, release, done := mountWhileCollecting(t)
	time.Sleep(500 * time.Millisecond)
	qt.Assert(t, qt.IsNil(release()))
	// The next collection starts at once, before the mount looks.
	next, err := r.HoldGCState(ctx)
	qt.Assert(t, qt.IsNil(err))
	defer next()
	select {
	case err := <-done:
		qt.Assert(t, qt.IsNil(err))
	case <-time.After(10 * time.Second):
		t.Fatal("the mount waited for a collection that started after it")
	}
}

// TestCatalogName checks that the catalog's key code keeps the order of
// repository names and decodes back.
func TestCatalogName(t *testing.T) {
	names := []string{"a", "a-b", "a.b", "a/b", "a/b/c", "a0", "ab", "a__b", "a.-", "a./", "a/.", "z"}
	names = append(names, longRepoNames()...)
	slices.Sort(names)
	var keys []string
	for _, n := range names {
		k := ocis3.CatalogName(n)
		// Cut into components that a file system holds, and
		// never a file where another name has a directory.
		for _, c := range strings.Split(k, "/") {
			qt.Assert(t, qt.IsTrue(len(c) <= 255), qt.Commentf("%q", c))
		}
		for _, other := range names {
			qt.Assert(t, qt.Not(qt.StringContains(ocis3.CatalogName(other), k+"/")))
		}
		back, ok := ocis3.RepoFromCatalogName(k)
		qt.Assert(t, qt.IsTrue(ok))
		qt.Assert(t, qt.Equals(back, n))
		keys = append(keys, k)
	}
	qt.Assert(t, qt.IsTrue(slices.IsSorted(keys)), qt.Commentf("%q", keys))
	// Only the code catalogName gives decodes, cut only where it cuts.
	for _, bad := range []string{"ab~/cd", "~/ab", "ab~/", "a/b", "a~b", "a.", "a.x"} {
		_, ok := ocis3.RepoFromCatalogName(bad)
		qt.Check(t, qt.IsFalse(ok), qt.Commentf("%q", bad))
	}
}

// longRepoNames returns valid repository names whose catalog code is
// longer than a file name may be, some of them prefixes of others where
// the code is cut.
func longRepoNames() []string {
	dots := strings.Repeat("a.", 127) + "a" // 255 bytes, a code of 382
	return []string{
		dots,
		dots[:201], dots[:199], dots[:200] + "b",
		"b/" + strings.Repeat("a", 253),
		strings.Repeat("c", 200), strings.Repeat("c", 201), strings.Repeat("c", 200) + "/d",
		strings.Repeat("c/", 100) + "e",
	}
}

// TestLongRepoNames pushes to repositories whose names are as long as
// names may be, with the dots and slashes that lengthen their catalog
// code, and lists, reads and collects them.
func TestLongRepoNames(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	names := longRepoNames()
	for _, repo := range names {
		qt.Assert(t, qt.IsTrue(ociregistry.IsValidRepository(repo)), qt.Commentf("%q", repo))
		ocitest.PushRandomImage(t, r, repo, "v1")
	}
	slices.Sort(names)
	var listed []string
	for repo, err := range r.Repositories(ctx, "") {
		qt.Assert(t, qt.IsNil(err))
		listed = append(listed, repo)
	}
	qt.Assert(t, qt.DeepEquals(listed, names))
	listed = listed[:0]
	for repo, err := range r.Repositories(ctx, names[3]) {
		qt.Assert(t, qt.IsNil(err))
		listed = append(listed, repo)
	}
	qt.Assert(t, qt.DeepEquals(listed, names[4:]))
	for _, repo := range names {
		_, err := r.ResolveTag(ctx, repo, "v1")
		qt.Assert(t, qt.IsNil(err), qt.Commentf("%q", repo))
	}
	_, err := r.GC(ctx, ocis3.GCOptions{GracePeriod: time.Hour})
	qt.Assert(t, qt.IsNil(err))
}

// TestRepoFence holds a repository's fence as a collection does while
// it collects the repository's links, removes a link that a manifest
// push relies on while the push waits, and checks that the push then
// fails and leaves neither manifest nor tag; a collection elsewhere in
// the bucket (the global fence alone) does not hold manifest pushes up.
func TestRepoFence(t *testing.T) {
	t.Parallel()
	g := startGateway(t)
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	img := ocitest.PushRandomImage(t, r, "repo", "")

	releaseGlobal, err := r.HoldGCState(ctx)
	qt.Assert(t, qt.IsNil(err))
	_, err = r.PushManifest(ctx, "repo", "quick", img.Content, img.Manifest.MediaType)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(releaseGlobal()))

	// The same image, pushed to a repository of its own.
	for _, b := range img.Blobs {
		_, err := r.MountBlob(ctx, "repo", "fenced", b.Digest)
		qt.Assert(t, qt.IsNil(err))
	}
	release, err := r.HoldRepoGCState(ctx, "fenced")
	qt.Assert(t, qt.IsNil(err))
	done := make(chan error, 1)
	go func() {
		_, err := r.PushManifest(ctx, "fenced", "v1", img.Content, img.Manifest.MediaType)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("push finished while a collection held the repository's fence: %v", err)
	case <-time.After(time.Second):
	}
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "fenced", img.Blobs[0].Digest)))
	qt.Assert(t, qt.IsNil(release()))
	qt.Assert(t, qt.ErrorIs(<-done, ociregistry.ErrManifestBlobUnknown))
	_, err = r.ResolveTag(ctx, "fenced", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.ResolveManifest(ctx, "fenced", img.Manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// TestUploadPartsBounded checks that a chunked upload cannot grow past
// its bound on part objects: the chunk that would cross it fails with
// BLOB_UPLOAD_INVALID and the upload keeps what it had.
func TestUploadPartsBounded(t *testing.T) {
	g := startGateway(t)
	defer ocis3.SetMaxUploadParts(3)()
	r := g.newRegistry(t, nil)
	ctx := context.Background()
	w, err := r.PushBlobChunked(ctx, "bounded", 0)
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	qt.Assert(t, qt.IsNil(w.Close()))
	var all []byte
	for i := range 4 {
		w, err := r.PushBlobChunkedResume(ctx, "bounded", id, -1, 0)
		qt.Assert(t, qt.IsNil(err))
		chunk := randomBytes(10)
		w.Write(chunk)
		err = w.Close()
		if i < 3 {
			qt.Assert(t, qt.IsNil(err))
			all = append(all, chunk...)
			continue
		}
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadInvalid))
	}
	w, err = r.PushBlobChunkedResume(ctx, "bounded", id, -1, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w.Size(), int64(len(all))))
	desc, err := w.Commit(digest.FromBytes(all))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(readBlob(t, r, "bounded", desc.Digest), all))
}
