// Package ocifilter holds wrappers that restrict what can be done with a
// registry: [ReadOnly] refuses every write, [Immutable] refuses to move
// or delete a tag, [Select] hides repositories, [Sub] shows the
// repositories under a prefix with the prefix removed, and
// [AccessChecker] asks a function before every operation.
//
// Each wrapper is itself an [ociregistry.Interface], so wrappers stack,
// and any of them can be served with ociserver:
//
//	r := ocifilter.ReadOnly(ocifilter.Sub(backend, "mirror"))
//	http.ListenAndServe("127.0.0.1:5000", ociserver.New(r, nil))
package ocifilter

import (
	"fmt"

	"github.com/ocireg/ociregistry"
)

// denied returns an error that Is [ociregistry.ErrDenied], saying what
// was refused and why.
func denied(op, repo, why string) error {
	return fmt.Errorf("%s %s: %s: %w", op, repo, why, ociregistry.ErrDenied)
}

// deleteRefused returns the error of a delete that the registry does not
// do: it Is [ociregistry.ErrUnsupported], which servers answer with 405,
// as the distribution spec asks of a registry that does not allow
// deletion (a 403 would say that other credentials might).
func deleteRefused(op, repo, why string) error {
	return fmt.Errorf("%s %s: %s: %w", op, repo, why, ociregistry.ErrUnsupported)
}
