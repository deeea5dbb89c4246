package ocifs

import "io"

// SetWrapWriter makes r write all file content through wrap, so that
// tests can make writes fail as on a full disk.
func SetWrapWriter(r *Registry, wrap func(io.Writer) io.Writer) {
	r.wrapWriter = wrap
}
