package ocimem_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/opencontainers/go-digest"
)

// bigContent returns n pseudo-random bytes.
func bigContent(n int) []byte {
	data := make([]byte, n)
	var seed [32]byte
	rand.NewChaCha8(seed).Read(data)
	return data
}

// onlyReader hides every method of a reader but Read, as a request body
// does, so that what reads it cannot take a shortcut.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestBigBlobRanges stores content of several MiB, which ocimem holds in
// more than one piece, in every way a blob can be stored, and reads it
// back whole and by ranges that start, end and cross anywhere, by Read
// with small buffers, by WriteTo and after Seek.
func TestBigBlobRanges(t *testing.T) {
	const size = 9<<20 + 12345
	data := bigContent(size)
	desc := ociregistry.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(data), Size: size}
	pushes := []struct {
		name string
		push func(t *testing.T, r *ocimem.Registry)
	}{{
		name: "PushBlob",
		push: func(t *testing.T, r *ocimem.Registry) {
			_, err := r.PushBlob(ctx, "repo", desc, onlyReader{bytes.NewReader(data)})
			qt.Assert(t, qt.IsNil(err))
		},
	}, {
		name: "PushBlobUnknownSize",
		push: func(t *testing.T, r *ocimem.Registry) {
			d := desc
			d.Size = -1
			_, err := r.PushBlob(ctx, "repo", d, onlyReader{bytes.NewReader(data)})
			qt.Assert(t, qt.IsNil(err))
		},
	}, {
		name: "ChunkedWrites",
		push: func(t *testing.T, r *ocimem.Registry) {
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			qt.Assert(t, qt.IsNil(err))
			for rest := data; len(rest) > 0; {
				n := min(len(rest), 100000)
				_, err := w.Write(rest[:n])
				qt.Assert(t, qt.IsNil(err))
				rest = rest[n:]
			}
			_, err = w.Commit(desc.Digest)
			qt.Assert(t, qt.IsNil(err))
		},
	}, {
		name: "ChunkedReadFromResumed",
		push: func(t *testing.T, r *ocimem.Registry) {
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			qt.Assert(t, qt.IsNil(err))
			_, err = io.Copy(w, onlyReader{bytes.NewReader(data[:3<<20+7])})
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsNil(w.Close()))
			w, err = r.PushBlobChunkedResume(ctx, "repo", w.ID(), 3<<20+7, 0)
			qt.Assert(t, qt.IsNil(err))
			_, err = io.Copy(w, onlyReader{bytes.NewReader(data[3<<20+7:])})
			qt.Assert(t, qt.IsNil(err))
			_, err = w.Commit(desc.Digest)
			qt.Assert(t, qt.IsNil(err))
		},
	}, {
		name: "ChunkedSHA512",
		push: func(t *testing.T, r *ocimem.Registry) {
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			qt.Assert(t, qt.IsNil(err))
			_, err = io.Copy(w, onlyReader{bytes.NewReader(data)})
			qt.Assert(t, qt.IsNil(err))
			_, err = w.Commit(digest.SHA512.FromBytes(data))
			qt.Assert(t, qt.IsNil(err))
			// The same content by its sha256 digest, which the
			// checks below read.
			_, err = r.PushBlob(ctx, "repo", desc, bytes.NewReader(data))
			qt.Assert(t, qt.IsNil(err))
			rd, err := r.GetBlob(ctx, "repo", digest.SHA512.FromBytes(data))
			qt.Assert(t, qt.IsNil(err))
			got, err := io.ReadAll(rd)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
		},
	}}
	ranges := [][2]int64{
		{0, size},
		{0, 1},
		{1, 1 << 20},
		{64<<10 - 1, 64<<10 + 1},
		{1<<20 - 3, 5<<20 + 3},
		{4 << 20, 8 << 20},
		{size - 1, size},
		{size, size},
		{12345, size},
	}
	for _, p := range pushes {
		t.Run(p.name, func(t *testing.T) {
			r := ocimem.New()
			p.push(t, r)
			for _, rg := range ranges {
				want := data[rg[0]:rg[1]]
				rd, err := r.GetBlobRange(ctx, "repo", desc.Digest, rg[0], rg[1])
				qt.Assert(t, qt.IsNil(err))
				// Small reads cross the pieces one buffer at a time.
				got, err := io.ReadAll(io.LimitReader(onlyReader{rd}, 1<<62))
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.IsTrue(bytes.Equal(got, want)), qt.Commentf("range %v by Read", rg))

				rd, err = r.GetBlobRange(ctx, "repo", desc.Digest, rg[0], rg[1])
				qt.Assert(t, qt.IsNil(err))
				var buf bytes.Buffer
				n, err := rd.(io.WriterTo).WriteTo(&buf)
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.Equals(n, int64(len(want))))
				qt.Assert(t, qt.IsTrue(bytes.Equal(buf.Bytes(), want)), qt.Commentf("range %v by WriteTo", rg))

				// Seeking back and forth lands where a bytes.Reader
				// would.
				seeker := rd.(io.ReadSeeker)
				for _, off := range []int64{0, int64(len(want)) / 2, int64(len(want)), 1} {
					off = min(off, int64(len(want)))
					pos, err := seeker.Seek(off, io.SeekStart)
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.Equals(pos, off))
					got, err := io.ReadAll(io.LimitReader(seeker, 70000))
					qt.Assert(t, qt.IsNil(err))
					qt.Assert(t, qt.IsTrue(bytes.Equal(got, want[off:min(off+70000, int64(len(want)))])), qt.Commentf("range %v after Seek(%d)", rg, off))
				}
				end, err := seeker.Seek(-1, io.SeekEnd)
				if len(want) == 0 {
					qt.Assert(t, qt.IsNotNil(err))
					continue
				}
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.Equals(end, int64(len(want))-1))
				got, err = io.ReadAll(seeker)
				qt.Assert(t, qt.IsNil(err))
				qt.Assert(t, qt.DeepEquals(got, want[len(want)-1:]))
			}
		})
	}
}

// TestPushAllocatesOnce checks that storing a blob allocates its size
// once, and not the several copies that a growing slice leaves behind,
// however the blob arrives: with its size or without, by Write or by
// ReadFrom in the small pieces a request body yields.
func TestPushAllocatesOnce(t *testing.T) {
	const size = 16 << 20
	data := bigContent(size)
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: size}
	pushes := []struct {
		name string
		push func(r *ocimem.Registry) error
	}{{
		name: "PushBlob",
		push: func(r *ocimem.Registry) error {
			_, err := r.PushBlob(ctx, "repo", desc, onlyReader{bytes.NewReader(data)})
			return err
		},
	}, {
		name: "PushBlobUnknownSize",
		push: func(r *ocimem.Registry) error {
			d := desc
			d.Size = -1
			_, err := r.PushBlob(ctx, "repo", d, onlyReader{bytes.NewReader(data)})
			return err
		},
	}, {
		name: "ChunkedWrites",
		push: func(r *ocimem.Registry) error {
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			if err != nil {
				return err
			}
			for rest := data; len(rest) > 0; rest = rest[32<<10:] {
				if _, err := w.Write(rest[:32<<10]); err != nil {
					return err
				}
			}
			_, err = w.Commit(desc.Digest)
			return err
		},
	}, {
		name: "ChunkedReadFrom",
		push: func(r *ocimem.Registry) error {
			w, err := r.PushBlobChunked(ctx, "repo", 0)
			if err != nil {
				return err
			}
			if _, err := io.Copy(w, onlyReader{bytes.NewReader(data)}); err != nil {
				return err
			}
			_, err = w.Commit(desc.Digest)
			return err
		},
	}}
	for _, p := range pushes {
		t.Run(p.name, func(t *testing.T) {
			r := ocimem.New()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			qt.Assert(t, qt.IsNil(p.push(r)))
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			// The last piece of content of unknown size is copied
			// once to trim it: at most 4 MiB more.
			limit := uint64(size + 4<<20 + 1<<20)
			qt.Assert(t, qt.IsTrue(allocated <= limit), qt.Commentf("pushing %d bytes allocated %d, more than %d", size, allocated, limit))
			rd, err := r.GetBlob(ctx, "repo", desc.Digest)
			qt.Assert(t, qt.IsNil(err))
			got, err := io.ReadAll(rd)
			qt.Assert(t, qt.IsNil(err))
			qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
		})
	}
}

// blockingReader yields its first read's data only once released.
type blockingReader struct {
	started chan struct{}
	release chan struct{}
	data    []byte
}

func (b *blockingReader) Read(p []byte) (int, error) {
	if b.data == nil {
		return 0, io.EOF
	}
	close(b.started)
	<-b.release
	n := copy(p, b.data)
	b.data = nil
	return n, nil
}

// TestChunkedReadFromResumedMeanwhile resumes an upload while a writer's
// ReadFrom waits on its reader: the old writer's late data is dropped
// with an error, and the upload holds what the new writer wrote.
func TestChunkedReadFromResumedMeanwhile(t *testing.T) {
	r := ocimem.New()
	w1, err := r.PushBlobChunked(ctx, "repo", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w1.Write([]byte("start "))
	qt.Assert(t, qt.IsNil(err))
	br := &blockingReader{started: make(chan struct{}), release: make(chan struct{}), data: []byte("stale data")}
	done := make(chan error)
	go func() {
		_, err := io.Copy(w1, br)
		done <- err
	}()
	<-br.started
	w2, err := r.PushBlobChunkedResume(ctx, "repo", w1.ID(), 6, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w2.Write([]byte("fresh data"))
	qt.Assert(t, qt.IsNil(err))
	close(br.release)
	qt.Assert(t, qt.ErrorIs(<-done, ociregistry.ErrBlobUploadInvalid))
	qt.Assert(t, qt.Equals(w2.Size(), int64(len("start fresh data"))))
	desc, err := w2.Commit(digest.FromString("start fresh data"))
	qt.Assert(t, qt.IsNil(err))
	rd, err := r.GetBlob(ctx, "repo", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(rd)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(string(got), "start fresh data"))
}

// TestManySmallBlobsHoldLittle checks that small blobs of unknown size
// hold about their size, not a piece of the size big blobs are read in.
func TestManySmallBlobsHoldLittle(t *testing.T) {
	r := ocimem.New()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 200
	for i := range n {
		data := fmt.Appendf(nil, "small blob %d", i)
		w, err := r.PushBlobChunked(ctx, "repo", 0)
		qt.Assert(t, qt.IsNil(err))
		_, err = io.Copy(w, onlyReader{bytes.NewReader(data)})
		qt.Assert(t, qt.IsNil(err))
		_, err = w.Commit(digest.FromBytes(data))
		qt.Assert(t, qt.IsNil(err))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	qt.Assert(t, qt.IsTrue(held < n*4096), qt.Commentf("%d small blobs hold %d bytes", n, held))
	runtime.KeepAlive(r)
}

// TestContentKeptOnce pushes one blob to many repositories, by each way
// of storing a blob, and checks that the registry keeps its content
// once, and frees it when the last repository deletes it.
func TestContentKeptOnce(t *testing.T) {
	const size, repos = 4 << 20, 40
	data := bigContent(size)
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: size}
	r := ocimem.New()
	live := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := live()
	for i := range repos {
		repo := fmt.Sprint("repo", i)
		switch i % 3 {
		case 0:
			_, err := r.PushBlob(ctx, repo, desc, bytes.NewReader(data))
			qt.Assert(t, qt.IsNil(err))
		case 1:
			w, err := r.PushBlobChunked(ctx, repo, 0)
			qt.Assert(t, qt.IsNil(err))
			_, err = io.Copy(w, bytes.NewReader(data))
			qt.Assert(t, qt.IsNil(err))
			_, err = w.Commit(desc.Digest)
			qt.Assert(t, qt.IsNil(err))
		case 2:
			_, err := r.MountBlob(ctx, "repo0", repo, desc.Digest)
			qt.Assert(t, qt.IsNil(err))
		}
	}
	held := live() - before
	qt.Assert(t, qt.IsTrue(held < 2*size), qt.Commentf("%d repositories holding a %d-byte blob take %d bytes", repos, size, held))
	for i := range repos {
		rd, err := r.GetBlob(ctx, fmt.Sprint("repo", i), desc.Digest)
		qt.Assert(t, qt.IsNil(err))
		got, err := io.ReadAll(rd)
		rd.Close()
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.IsTrue(bytes.Equal(got, data)))
	}
	// Deleted from all but one, it is still there; from all, it is gone.
	for i := 1; i < repos; i++ {
		qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, fmt.Sprint("repo", i), desc.Digest)))
	}
	still := live() - before
	qt.Assert(t, qt.IsTrue(still >= size/2), qt.Commentf("the last repository holds %d bytes", still))
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "repo0", desc.Digest)))
	freed := live() - before
	qt.Assert(t, qt.IsTrue(freed < size/2), qt.Commentf("%d bytes still held after the blob was deleted everywhere", freed))
	// The test's own copy counts in every measure.
	runtime.KeepAlive(data)
	runtime.KeepAlive(r)
}

// TestPushKnownContent pushes a blob whose content the registry holds
// already: the push reads and checks the content without keeping another
// copy, and refuses content or a size that does not match, leaving what
// is stored intact.
func TestPushKnownContent(t *testing.T) {
	const size = 16 << 20
	data := bigContent(size)
	desc := ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: size}
	r := ocimem.New()
	_, err := r.PushBlob(ctx, "repo", desc, onlyReader{bytes.NewReader(data)})
	qt.Assert(t, qt.IsNil(err))

	bad := bytes.Clone(data)
	bad[size-1] ^= 1
	_, err = r.PushBlob(ctx, "other", desc, onlyReader{bytes.NewReader(bad)})
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	_, err = r.PushBlob(ctx, "other", desc, onlyReader{bytes.NewReader(data[:size-1])})
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrSizeInvalid))
	long := desc
	long.Size = -1
	_, err = r.PushBlob(ctx, "other", long, onlyReader{io.MultiReader(bytes.NewReader(data), bytes.NewReader([]byte("x")))})
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	_, err = r.ResolveBlob(ctx, "other", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	got, err := r.PushBlob(ctx, "other", desc, onlyReader{bytes.NewReader(data)})
	runtime.ReadMemStats(&after)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(got.Size, int64(size)))
	allocated := after.TotalAlloc - before.TotalAlloc
	qt.Assert(t, qt.IsTrue(allocated < 1<<20), qt.Commentf("pushing %d bytes held already allocated %d", size, allocated))
	for _, repo := range []string{"repo", "other"} {
		qt.Assert(t, qt.IsTrue(bytes.Equal(blobContent(t, r, repo, desc.Digest), data)))
	}

	// Once deleted everywhere, the content is read and kept again.
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "repo", desc.Digest)))
	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "other", desc.Digest)))
	_, err = r.PushBlob(ctx, "repo", desc, onlyReader{bytes.NewReader(data)})
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(blobContent(t, r, "repo", desc.Digest), data)))
}
