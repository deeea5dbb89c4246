package ocimem_test

import (
	"testing"

	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocimem"
	"github.com/ocireg/ociregistry/ocitest"
)

func TestSuite(t *testing.T) {
	ocitest.Run(t, ocitest.Suite{
		New: func(t *testing.T) ociregistry.Interface { return ocimem.New() },
	})
}
