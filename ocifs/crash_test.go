package ocifs_test

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/opencontainers/go-digest"
)

const crashChildEnv = "OCIFS_CRASH_CHILD_DIR"

// TestCrash starts a child process (this test binary again) that pushes,
// deletes and collects garbage concurrently in one directory, kills it
// with SIGKILL at a random moment, and checks that a fresh Registry on
// the directory finds it consistent and accepts new pushes; many times
// over.
func TestCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	const kills = 20
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		qt.Assert(t, qt.IsNil(err))
		cmd.Stderr = os.Stderr
		qt.Assert(t, qt.IsNil(cmd.Start()))
		// Wait until the child pushes, then let it run a while.
		line, err := bufio.NewReader(stdout).ReadString('\n')
		qt.Assert(t, qt.IsNil(err), qt.Commentf("child output %q", line))
		qt.Assert(t, qt.Equals(line, "pushing\n"))
		time.Sleep(time.Duration(20+rand.IntN(300)) * time.Millisecond)
		qt.Assert(t, qt.IsNil(cmd.Process.Kill()))
		cmd.Wait()

		qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)), qt.Commentf("after kill %d", i))
		r, err := ocifs.New(dir, nil)
		qt.Assert(t, qt.IsNil(err))
		img := pushImage(t, r, "after", fmt.Sprintf("kill%d", i), 1)
		rd, err := r.GetTag(ctx, "after", fmt.Sprintf("kill%d", i))
		qt.Assert(t, qt.IsNil(err))
		qt.Assert(t, qt.Equals(digest.FromBytes(readAll(t, rd)), img.manifest.Digest))
	}
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
	r, err := ocifs.New(dir, nil)
	qt.Assert(t, qt.IsNil(err))
	tags, err := ociregistry.All(r.Tags(ctx, "after", ""))
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.HasLen(tags, kills))
	repos, err := ociregistry.All(r.Repositories(ctx, ""))
	qt.Assert(t, qt.IsNil(err))
	t.Logf("repositories after %d kills: %v", kills, repos)
	qt.Assert(t, qt.IsTrue(len(repos) > 1))
}

// crashChild pushes into dir until it is killed.
func crashChild(dir string) {
	ctx := context.Background()
	r, err := ocifs.New(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("pushing")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(rand.Uint64(), uint64(g)))
			for {
				repo := fmt.Sprintf("repo%d/sub", rnd.IntN(3))
				tag := fmt.Sprintf("t%d", rnd.IntN(5))
				img, err := pushImageErr(ctx, r, repo, tag, 1+rnd.IntN(3), rnd)
				if err != nil {
					continue
				}
				switch rnd.IntN(6) {
				case 0:
					r.DeleteManifest(ctx, repo, img.manifest.Digest)
				case 1:
					r.DeleteTag(ctx, repo, tag)
				case 2:
					w, err := r.PushBlobChunked(ctx, repo, 0)
					if err == nil {
						w.Write(randBytes(rnd, 1000))
						w.Close()
					}
				}
			}
		})
	}
	go func() {
		for {
			ocifs.GC(ctx, dir, ocifs.GCOptions{GracePeriod: time.Nanosecond, DeleteUntagged: true})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	// Never outlive the parent for long.
	time.Sleep(30 * time.Second)
	os.Exit(2)
}

// TestNoPartialFileVisible pushes concurrently while another goroutine
// walks the directory: every file it sees outside tmp/ and uploads/ must
// have a name the layout gives, and every blob must be complete.
func TestNoPartialFileVisible(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r, dir := newRegistry(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			rnd := newRand()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				pushImageErr(ctx, r, fmt.Sprintf("r%d", g), "latest", 2, rnd)
			}
		})
	}
	seen := 0
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			rel = filepath.ToSlash(rel)
			if rel == "tmp" || rel == "uploads" || rel == "locks" {
				return filepath.SkipDir
			}
			if d.IsDir() || rel == "gc.lock" || rel == "gc.gate" {
				return nil
			}
			seen++
			parts := strings.Split(rel, "/")
			name := parts[len(parts)-1]
			switch {
			case parts[0] == "blobs":
				d := ociregistry.Digest(parts[1] + ":" + name)
				qt.Assert(t, qt.IsNil(ociregistry.CheckDigest(d)), qt.Commentf("file %s", rel))
				data, err := os.ReadFile(path)
				if err == nil {
					qt.Assert(t, qt.Equals(d.Algorithm().FromBytes(data), d), qt.Commentf("partial blob %s", rel))
				}
			case parts[len(parts)-2] == "_tags":
				qt.Assert(t, qt.IsTrue(ociregistry.IsValidTag(name)), qt.Commentf("file %s", rel))
			case parts[len(parts)-3] == "_referrers":
				qt.Assert(t, qt.IsTrue(strings.HasPrefix(name, "sha256-")), qt.Commentf("file %s", rel))
			default:
				d := ociregistry.Digest(parts[len(parts)-2] + ":" + name)
				qt.Assert(t, qt.IsNil(ociregistry.CheckDigest(d)), qt.Commentf("file %s", rel))
			}
			return nil
		})
		qt.Assert(t, qt.IsNil(err))
	}
	close(stop)
	wg.Wait()
	qt.Assert(t, qt.IsTrue(seen > 0))
	qt.Assert(t, qt.IsNil(ocifs.Check(ctx, dir)))
}
