package ocis3

import (
	"context"
	"time"
)

// SetClockSlack sets how far the garbage collector assumes clocks
// disagree, and returns a function that restores it.
func SetClockSlack(d time.Duration) func() {
	old := clockSlack
	clockSlack = d
	return func() { clockSlack = old }
}

// HoldGCState takes gc/state as a collection would, and returns the
// function that lets it go.
func (r *Registry) HoldGCState(ctx context.Context) (func() error, error) {
	g := &collector{r: r}
	if err := g.acquire(ctx); err != nil {
		return nil, err
	}
	return func() error {
		_, err := r.writeGCState(ctx, g.etag, false, time.Now())
		return err
	}, nil
}

// BlobKey returns the key of a blob's content.
var BlobKey = (*Registry).blobKey

// CatalogName and RepoFromCatalogName expose the catalog's key code.
var (
	CatalogName         = catalogName
	RepoFromCatalogName = repoFromCatalogName
)
