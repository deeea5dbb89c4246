package ocifs

import "io"

// SetWrapWriter makes r write all file content through wrap, so that
// tests can make writes fail as on a full disk.
func SetWrapWriter(r *Registry, wrap func(io.Writer) io.Writer) {
	r.wrapWriter = wrap
}

// SetFault makes r call fault before every fsync, close and rename of a
// push, and fail the operation with its error when not nil.
func SetFault(r *Registry, fault func(op, path string) error) {
	r.fault = fault
}
