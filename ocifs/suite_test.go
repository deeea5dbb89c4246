package ocifs_test

import (
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocifs"
	"github.com/ocireg/ociregistry/ocitest"
)

func TestSuite(t *testing.T) {
	t.Parallel()
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface {
			r, err := ocifs.New(t.TempDir(), nil)
			qt.Assert(t, qt.IsNil(err))
			return r
		},
	})
}
