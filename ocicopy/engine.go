package ocicopy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/ocireg/ociregistry"
)

// defaultConcurrency is the number of transfers at once when
// Options.Concurrency is not set: enough to hide a registry's latency
// without crowding it.
const defaultConcurrency = 4

// engine runs the copies of one Copy or CopyAll call: it holds the bound
// on transfers they share and the blob copies they share.
type engine struct {
	opts Options
	// sem holds a token for each transfer under way.
	sem chan struct{}

	// progressMu makes Options.Progress see one event at a time.
	progressMu sync.Mutex

	// mu guards dsts and blobs.
	mu sync.Mutex
	// dsts are the distinct destinations, so that a blob key can name
	// one by its index.
	dsts []ociregistry.Interface
	// blobs holds the blob copies started, each once for a destination
	// repository.
	blobs map[blobKey]*blobTask
}

// blobKey names a blob in a destination repository.
type blobKey struct {
	dst    int
	repo   string
	digest ociregistry.Digest
}

// blobTask is the copy of one blob to one destination repository, which
// several images may wait for.
type blobTask struct {
	// owner is the image that runs it.
	owner int
	// done is closed when err is set.
	done chan struct{}
	err  error
}

func newEngine(opts *Options) *engine {
	e := &engine{blobs: map[blobKey]*blobTask{}}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Concurrency <= 0 {
		e.opts.Concurrency = defaultConcurrency
	}
	e.sem = make(chan struct{}, e.opts.Concurrency)
	return e
}

// run copies each image in a goroutine of its own and returns their
// descriptors and errors, in the order of images.
func (e *engine) run(ctx context.Context, images []Image) ([]ociregistry.Descriptor, []error) {
	descs := make([]ociregistry.Descriptor, len(images))
	errs := make([]error, len(images))
	// Images in flight hold their manifests in memory: a repository of
	// thousands of tags is copied a few images at a time. Twice the
	// transfers at once lets one image plan while another copies. An
	// image waits only for blob copies that images in flight run, so
	// the bound cannot block them.
	inFlight := make(chan struct{}, 2*e.opts.Concurrency)
	var wg sync.WaitGroup
	for i, img := range images {
		select {
		case inFlight <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		c := &imageCopy{
			e:             e,
			index:         i,
			img:           img,
			dstID:         e.dstID(img.Dst),
			seenManifests: map[ociregistry.Digest]bool{},
			seenBlobs:     map[ociregistry.Digest]bool{},
		}
		wg.Go(func() {
			defer func() { <-inFlight }()
			descs[i], errs[i] = c.copy(ctx)
		})
	}
	wg.Wait()
	return descs, errs
}

// copyAll is CopyAll, with the error of a single image returned as it
// is, for Copy.
func copyAll(ctx context.Context, images []Image, opts *Options) ([]ociregistry.Descriptor, error) {
	descs, errs := newEngine(opts).run(ctx, images)
	if len(images) == 1 {
		return descs, errs[0]
	}
	var failed []error
	for i, err := range errs {
		if err != nil {
			failed = append(failed, fmt.Errorf("%s:%s: %w", images[i].SrcRepo, images[i].Ref, err))
		}
	}
	if len(failed) == 0 {
		return descs, nil
	}
	return descs, errors.Join(failed...)
}

// acquire waits for a transfer token and returns the function that gives
// it back, or ctx's error.
func (e *engine) acquire(ctx context.Context) (release func(), err error) {
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// emit passes ev to Options.Progress, one event at a time.
func (e *engine) emit(ev Event) {
	if e.opts.Progress == nil {
		return
	}
	e.progressMu.Lock()
	defer e.progressMu.Unlock()
	e.opts.Progress(ev)
}

// dstID returns the index of r among the destinations seen so far,
// adding it when it is new.
func (e *engine) dstID(r ociregistry.Interface) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, d := range e.dsts {
		if sameValue(d, r) {
			return i
		}
	}
	e.dsts = append(e.dsts, r)
	return len(e.dsts) - 1
}

// sameValue reports whether a and b are the same value, without the
// panic of == on values of a type that cannot be compared.
func sameValue(a, b any) bool {
	t := reflect.TypeOf(a)
	return t != nil && t == reflect.TypeOf(b) && t.Comparable() && a == b
}

// claimBlob returns the copy of desc to c's destination repository, and
// whether c is to run it: the first image that needs a blob there runs
// its copy, and the others wait for it.
func (e *engine) claimBlob(c *imageCopy, desc ociregistry.Descriptor) (task *blobTask, run bool) {
	key := blobKey{dst: c.dstID, repo: c.img.DstRepo, digest: desc.Digest}
	e.mu.Lock()
	defer e.mu.Unlock()
	if task := e.blobs[key]; task != nil {
		return task, false
	}
	task = &blobTask{owner: c.index, done: make(chan struct{})}
	e.blobs[key] = task
	return task, true
}
