package ocifs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func timeAgo(minutes int) time.Time {
	return time.Now().Add(-time.Duration(minutes) * time.Minute)
}

func TestBlobStoredOncePerDigest(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	data := []byte("shared content")
	desc := pushBlob(t, r, "a", data)
	pushBlob(t, r, "b/c", data)
	_, err := r.MountBlob(ctx, "a", "d", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(filesUnder(t, dir, "blobs"), []string{"blobs/sha256/" + desc.Digest.Encoded()}))

	// Only where pushed or mounted.
	_, err = r.ResolveBlob(ctx, "e", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))

	qt.Assert(t, qt.IsNil(r.DeleteBlob(ctx, "a", desc.Digest)))
	_, err = r.ResolveBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	_, err = r.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.ErrorIs(r.DeleteBlob(ctx, "a", desc.Digest), ociregistry.ErrBlobUnknown))
	for _, repo := range []string{"b/c", "d"} {
		got, err := r.GetBlob(ctx, repo, desc.Digest)
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.DeepEquals(readAll(t, got), data))
	}
	_, err = r.MountBlob(ctx, "a", "x", desc.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

func TestGetBlobServesFile(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	data := []byte("0123456789abcdef")
	desc := pushBlob(t, r, "a", data)

	rd, err := r.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	// The whole blob is an *os.File underneath, which is what lets
	// net/http use sendfile.
	_, isFile := any(rd).(interface{ Fd() uintptr })
	qt.Assert(t, qt.IsTrue(isFile))
	qt.Assert(t, qt.Equals(rd.Descriptor().Size, int64(len(data))))
	qt.Assert(t, qt.DeepEquals(readAll(t, rd), data))

	tests := []struct {
		off0, off1 int64
		want       string
		err        error
	}{
		{0, -1, string(data), nil},
		{3, 7, "3456", nil},
		{10, 100, "abcdef", nil},
		{16, -1, "", nil},
		{17, -1, "", ociregistry.ErrRangeInvalid},
		{-1, 4, "", ociregistry.ErrRangeInvalid},
		{5, 4, "", ociregistry.ErrRangeInvalid},
	}
	for _, test := range tests {
		rd, err := r.GetBlobRange(ctx, "a", desc.Digest, test.off0, test.off1)
		if test.err != nil {
			qt.Assert(t, qt.ErrorIs(err, test.err))
			continue
		}
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(rd.Descriptor().Size, int64(len(data))))
		// WriteTo is what io.Copy uses, and it must respect the range.
		wt, ok := rd.(io.WriterTo)
		qt.Assert(t, qt.IsTrue(ok))
		var buf bytes.Buffer
		_, err = wt.WriteTo(&buf)
		qt.Assert(t, qt.IsNil(err))
		rd.Close()
		qt.Assert(t, qt.Equals(buf.String(), test.want))
	}
}

func TestResumeAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r1, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	data := bytes.Repeat([]byte("resumable "), 50000)
	w, err := r1.PushBlobChunked(ctx, "a/b", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.Write(data[:123457])
	qt.Assert(t, qt.IsNil(err))
	id := w.ID()
	// No Close: the process dies.

	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	_, err = r2.PushBlobChunkedResume(ctx, "a/b", id, 5, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrRangeInvalid))
	_, err = r2.PushBlobChunkedResume(ctx, "other", id, -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
	_, err = r2.PushBlobChunkedResume(ctx, "a/b", "../../etc", -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
	w2, err := r2.PushBlobChunkedResume(ctx, "a/b", id, 123457, 0)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(w2.Size(), int64(123457)))
	_, err = w2.Write(data[123457:300000])
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(w2.Close()))

	// Resumed by the same Registry, from its saved hash state.
	w3, err := r2.PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = io.Copy(w3, bytes.NewReader(data[300000:]))
	qt.Assert(t, qt.IsNil(err))
	_, err = w3.Commit(digest.FromString("wrong"))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid))
	desc, err := w3.Commit(digest.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Size, int64(len(data))))
	qt.Assert(t, qt.IsNil(w3.Cancel()))

	rd, err := r1.GetBlob(ctx, "a/b", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(readAll(t, rd), data)))
	qt.Assert(t, qt.HasLen(filesUnder(t, dir, "uploads"), 0))
	_, err = r2.PushBlobChunkedResume(ctx, "a/b", id, -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
}

func TestResumeSHA512(t *testing.T) {
	ctx := context.Background()
	r, _ := newRegistry(t)
	data := []byte("some content hashed with sha512")
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	w.Write(data)
	desc, err := w.Commit(digest.SHA512.FromBytes(data))
	qt.Assert(t, qt.IsNil(err))
	rd, err := r.GetBlob(ctx, "a", desc.Digest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(readAll(t, rd), data))
}

func TestStaleUploadsRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	w.Write([]byte("abandoned"))
	w.Close()
	fresh, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	fresh.Close()
	old := timeAgo(10)
	qt.Assert(t, qt.IsNil(os.Chtimes(filepath.Join(dir, "uploads", w.ID(), "data"), old, old)))

	_, err = ocifs.New(dir, &ocifs.Options{UploadMaxAge: 5 * time.Minute})
	qt.Assert(t, qt.IsNil(err))
	_, err = r.PushBlobChunkedResume(ctx, "a", w.ID(), -1, 0)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUploadUnknown))
	_, err = r.PushBlobChunkedResume(ctx, "a", fresh.ID(), -1, 0)
	qt.Assert(t, qt.IsNil(err))
}

func TestHostileNames(t *testing.T) {
	ctx := context.Background()
	parent := t.TempDir()
	dir := filepath.Join(parent, "reg")
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	data := []byte("x")
	desc := descOf(data, "")
	names := []string{
		"..", ".", "../x", "a/../../x", "/abs", "/etc/passwd", "a//b", "a/", "a/.hidden",
		"%2F", "a%2Fb", "a%2e%2e", "a\\..\\b", "A", "_blobs", "a/_tags", "a/_blobs/sha256",
		strings.Repeat("a", 300), strings.Repeat("ab/", 100) + "c", "é", "a\u200bb", "ａ", "a\x00b", "",
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			_, err := r.PushBlob(ctx, name, desc, bytes.NewReader(data))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			_, err = r.PushBlobChunked(ctx, name, 0)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			_, err = r.PushManifest(ctx, name, "latest", []byte("{}"), "application/x-opaque")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			_, err = r.MountBlob(ctx, "ok", name, desc.Digest)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			_, err = r.GetBlob(ctx, name, desc.Digest)
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			_, err = r.ResolveTag(ctx, name, "latest")
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
			qt.Assert(t, qt.ErrorIs(r.DeleteManifest(ctx, name, desc.Digest), ociregistry.ErrNameInvalid))
			_, err = ociregistry.All(r.Tags(ctx, name, ""))
			qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameInvalid))
		})
	}
	// Hostile tags and digests.
	pushBlob(t, r, "ok", data)
	for _, tag := range []string{"..", ".x", "../x", "a/b", "/x", strings.Repeat("t", 129), "é"} {
		_, err := r.PushManifest(ctx, "ok", tag, []byte("{}"), "application/x-opaque")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid), qt.Commentf("tag %q", tag))
	}
	for _, d := range []ociregistry.Digest{"sha256:../../x", "sha256:" + ociregistry.Digest(strings.Repeat("A", 64)), "md5:abc", "../sha256:x"} {
		_, err := r.GetBlob(ctx, "ok", d)
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrDigestInvalid), qt.Commentf("digest %q", d))
	}
	// Nothing was created outside dir, nor any repository but "ok".
	entries, err := os.ReadDir(parent)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(entries, 1))
	repos, err := ociregistry.All(r.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(repos, []string{"ok"}))
	repoDirs, _ := os.ReadDir(filepath.Join(dir, "repos"))
	qt.Assert(t, qt.HasLen(repoDirs, 1))
}

func TestManifestsAndTags(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	img := pushImage(t, r, "a/b", "v1", 2)
	desc, err := r.ResolveTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(desc, img.manifest))

	rd, err := r.GetTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.IsNil(err))
	data := readAll(t, rd)
	qt.Assert(t, qt.Equals(digest.FromBytes(data), img.manifest.Digest))

	// By its sha512 digest too.
	d512 := digest.SHA512.FromBytes(data)
	rd, err = r.GetManifest(ctx, "a/b", d512)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(rd.Descriptor().Digest, d512))
	qt.Assert(t, qt.DeepEquals(readAll(t, rd), data))

	// Missing references are refused.
	_, err = r.PushManifest(ctx, "other", "v1", data, img.manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestBlobUnknown))
	_, err = r.PushManifest(ctx, "a/b", "v1", []byte("not json"), img.manifest.MediaType)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestInvalid))

	// Referrers.
	ref := pushArtifact(t, r, "a/b", img.manifest)
	refs, err := ociregistry.All(r.Referrers(ctx, "a/b", img.manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 1))
	qt.Assert(t, qt.Equals(refs[0].Digest, ref.Digest))
	qt.Assert(t, qt.Equals(refs[0].ArtifactType, "application/x-sig"))
	refs, err = ociregistry.All(r.Referrers(ctx, "a/b", img.manifest.Digest, "application/other"))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 0))
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "a/b", ref.Digest)))
	refs, err = ociregistry.All(r.Referrers(ctx, "a/b", img.manifest.Digest, ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(refs, 0))

	// DeleteManifest by sha512 removes the tags and both digests.
	pushImage(t, r, "a/b", "v2", 1)
	qt.Assert(t, qt.IsNil(r.DeleteManifest(ctx, "a/b", d512)))
	_, err = r.ResolveTag(ctx, "a/b", "v1")
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	_, err = r.ResolveManifest(ctx, "a/b", img.manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	tags, err := ociregistry.All(r.Tags(ctx, "a/b", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.DeepEquals(tags, []string{"v2"}))
	_, err = ociregistry.All(r.Tags(ctx, "nothere", ""))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrNameUnknown))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
}

// failAfter fails every write once n bytes have been written, as a disk
// that fills up does.
type failAfter struct {
	w io.Writer
	n *int64
}

func (f failAfter) Write(p []byte) (int, error) {
	if int64(len(p)) > *f.n {
		k := int(max(*f.n, 0))
		n, _ := f.w.Write(p[:k])
		*f.n -= int64(n)
		return n, &os.PathError{Op: "write", Path: "disk", Err: errENOSPC}
	}
	n, err := f.w.Write(p)
	*f.n -= int64(n)
	return n, err
}

func TestFullDisk(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	pushImage(t, r, "a", "good", 1)
	var budget int64
	ocifs.SetWrapWriter(r, func(w io.Writer) io.Writer { return failAfter{w, &budget} })
	data := bytes.Repeat([]byte("x"), 3<<20)
	for _, b := range []int64{0, 1, 1 << 20, 3<<20 - 1} {
		budget = b
		_, err := r.PushBlob(ctx, "a", descOf(data, ""), bytes.NewReader(data))
		qt.Assert(t, qt.ErrorIs(err, errENOSPC))
		qt.Assert(t, qt.StringContains(err.Error(), "no space left on device"))

		budget = b
		w, err := r.PushBlobChunked(ctx, "a", 0)
		if err == nil {
			_, err = w.Write(data)
			w.Cancel()
		}
		qt.Assert(t, qt.ErrorIs(err, errENOSPC))
	}
	// A whole image push fails cleanly at whichever file the disk
	// fills: measure what it writes, then give it less and less.
	const seed = 42
	budget = 1 << 62
	_, err := pushImageErr(ctx, r, "measure", "v1", 2, rand.New(rand.NewPCG(seed, seed)))
	qt.Assert(t, qt.IsNil(err))
	total := 1<<62 - budget
	for i := range 40 {
		budget = total * int64(i) / 40
		repo := fmt.Sprintf("bad%d", i)
		_, err := pushImageErr(ctx, r, repo, "v1", 2, rand.New(rand.NewPCG(seed, seed)))
		qt.Assert(t, qt.ErrorIs(err, errENOSPC), qt.Commentf("budget %d of %d", budget, total))
		_, err = r.ResolveTag(ctx, repo, "v1")
		qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
	}
	budget = 0
	_, err = r.PushManifest(ctx, "a", "good", []byte(`{"schemaVersion":2}`), "application/vnd.oci.image.index.v1+json")
	qt.Assert(t, qt.ErrorIs(err, errENOSPC))

	qt.Assert(t, qt.HasLen(filesUnder(t, dir, "tmp"), 0))
	qt.Assert(t, qt.HasLen(filesUnder(t, dir, "uploads"), 0))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
	desc, err := r.ResolveTag(ctx, "a", "good")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.MediaType, "application/vnd.oci.image.manifest.v1+json"))
	_, err = r.ResolveBlob(ctx, "a", digest.FromBytes(data))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	ocifs.SetWrapWriter(r, nil)
	pushImage(t, r, "a", "after", 1)
}

// TestFailingSyncCloseRename checks that a push failing at any one of
// its fsyncs, closes, renames or directory fsyncs, as a full or failing
// disk can make them fail, returns the error and leaves nothing
// half-written: tmp/ and uploads/ are empty, the directory passes Check,
// and the image's tag is not set (except when only the fsync of the
// tag's directory failed, after the tag's rename). Writes are covered by
// TestFullDisk.
func TestFailingSyncCloseRename(t *testing.T) {
	ctx := context.Background()
	r, dir := newRegistry(t)
	pushImage(t, r, "a", "good", 1)
	seen := make(map[string]int)
	var failOp string
	var failAt int
	ocifs.SetFault(r, func(op, path string) error {
		seen[op]++
		if op == failOp && seen[op] == failAt {
			return errENOSPC
		}
		return nil
	})
	// Each push has content of its own, so that none finds its blobs
	// already stored and skips steps.
	seed := uint64(1)
	push := func(repo string) error {
		seed++
		_, err := pushImageErr(ctx, r, repo, "v1", 2, rand.New(rand.NewPCG(seed, seed)))
		return err
	}
	qt.Assert(t, qt.IsNil(push("measure")))
	counts := maps.Clone(seen)
	for _, op := range []string{"fsync", "close", "rename", "syncdir"} {
		qt.Assert(t, qt.IsTrue(counts[op] > 0), qt.Commentf("a push does no %s", op))
		for i := 1; i <= counts[op]; i++ {
			clear(seen)
			failOp, failAt = op, i
			repo := fmt.Sprintf("bad-%s-%d", op, i)
			err := push(repo)
			qt.Assert(t, qt.ErrorIs(err, errENOSPC), qt.Commentf("%s %d of %d", op, i, counts[op]))
			if op != "syncdir" {
				_, err = r.ResolveTag(ctx, repo, "v1")
				qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown), qt.Commentf("%s %d of %d", op, i, counts[op]))
			}
			qt.Assert(t, qt.HasLen(filesUnder(t, dir, "tmp"), 0))
			qt.Assert(t, qt.HasLen(filesUnder(t, dir, "uploads"), 0))
			qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)), qt.Commentf("%s %d of %d", op, i, counts[op]))
		}
	}
	t.Logf("operations per push: %v", counts)
	ocifs.SetFault(r, nil)
	qt.Assert(t, qt.IsNil(push("after")))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
}

func TestCheckFindsProblems(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		spoil  func(dir string, img image)
		want   string
		sha512 bool
	}{{
		name: "CorruptBlob",
		spoil: func(dir string, img image) {
			os.WriteFile(filepath.Join(dir, "blobs", "sha256", img.blobs[1].Digest.Encoded()), []byte("bad"), 0o666)
		},
		want: "content has digest",
	}, {
		name: "TempFileVisible",
		spoil: func(dir string, img image) {
			os.WriteFile(filepath.Join(dir, "blobs", "sha256", "w-12345"), []byte("partial"), 0o666)
		},
		want: "unexpected file blobs/sha256/w-12345",
	}, {
		name: "MissingBlob",
		spoil: func(dir string, img image) {
			os.Remove(filepath.Join(dir, "blobs", "sha256", img.blobs[0].Digest.Encoded()))
		},
		want: "missing blob",
	}, {
		name: "DanglingTag",
		spoil: func(dir string, img image) {
			os.Remove(filepath.Join(dir, "repos", "a", "_manifests", "sha256", img.manifest.Digest.Encoded()))
		},
		want: "points to missing manifest",
	}, {
		// A manifest whose digest is sha512 is linked under both
		// digests; DeleteManifest and the garbage collector go by the
		// sha256 link, so without it the tag dangles.
		name:   "DanglingTagSHA512",
		sha512: true,
		spoil: func(dir string, img image) {
			os.Remove(filepath.Join(dir, "repos", "a", "_manifests", "sha256", img.blobs[0].Digest.Encoded()))
		},
		want: "tag v1 points to manifest sha512:.*whose link as sha256:.* is missing",
	}}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			r, dir := newRegistry(t)
			img := pushImage(t, r, "a", "v1", 1)
			if test.sha512 {
				img = pushSHA512Image(t, r, "a", "v1")
			}
			qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
			test.spoil(dir, img)
			err := ocifs.Check(ctx, dir)
			qt.Assert(t, qt.ErrorMatches(err, "(?s).*"+test.want+".*"))
		})
	}
}

// errENOSPC is what writing to a full disk fails with.
var errENOSPC error = syscall.ENOSPC

func newRand() *rand.Rand { return rand.New(rand.NewPCG(rand.Uint64(), 2)) }

// TestTwoRegistriesShareDir checks that a Registry sees at once what
// another one on the same directory changed, whatever it has cached.
func TestTwoRegistriesShareDir(t *testing.T) {
	ctx := context.Background()
	r1, dir := newRegistry(t)
	r2, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	img1 := pushImage(t, r1, "a", "v", 1)
	age(t, dir)
	for range 2 {
		desc, err := r2.ResolveTag(ctx, "a", "v")
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(desc.Digest, img1.manifest.Digest))
		_, err = r2.ResolveBlob(ctx, "a", img1.blobs[0].Digest)
		qt.Assert(t, qt.IsNil(err))
		_, err = r2.ResolveManifest(ctx, "a", img1.manifest.Digest)
		qt.Assert(t, qt.IsNil(err))
	}
	img2 := pushImage(t, r1, "a", "v", 1)
	desc, err := r2.ResolveTag(ctx, "a", "v")
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, img2.manifest.Digest))

	qt.Assert(t, qt.IsNil(r1.DeleteBlob(ctx, "a", img1.blobs[0].Digest)))
	_, err = r2.ResolveBlob(ctx, "a", img1.blobs[0].Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
	qt.Assert(t, qt.IsNil(r1.DeleteManifest(ctx, "a", img1.manifest.Digest)))
	_, err = r2.GetManifest(ctx, "a", img1.manifest.Digest)
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrManifestUnknown))
}

// pushSHA512Image pushes an image whose config has a sha512 digest, so
// that the manifest's digest is sha512 too, and tags it. The image's
// blobs[0] is the sha256 digest of the manifest.
func pushSHA512Image(t *testing.T, r ociregistry.Interface, repo, tag string) image {
	ctx := context.Background()
	config := []byte(`{"architecture":"arm64","os":"linux"}`)
	cdesc := ociregistry.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.SHA512.FromBytes(config), Size: int64(len(config))}
	_, err := r.PushBlob(ctx, repo, cdesc, bytes.NewReader(config))
	qt.Assert(t, qt.IsNil(err))
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cdesc, Layers: []ociregistry.Descriptor{}}
	m.SchemaVersion = 2
	data, _ := json.Marshal(m)
	desc, err := r.PushManifest(ctx, repo, tag, data, ocispec.MediaTypeImageManifest)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.Equals(desc.Digest, digest.SHA512.FromBytes(data)))
	return image{repo: repo, tag: tag, manifest: desc, blobs: []ociregistry.Descriptor{{Digest: digest.FromBytes(data)}}}
}
