package ociproxy

import (
	"time"

	"github.com/ocireg/ociregistry"
)

// SetNow makes the proxy r tell the time with now.
func SetNow(r ociregistry.Interface, now func() time.Time) {
	r.(*proxy).now = now
}
