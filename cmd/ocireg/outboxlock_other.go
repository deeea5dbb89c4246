//go:build !unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockOutbox opens dir/.lock; without flock, nothing keeps a second
// server off the outbox.
func lockOutbox(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return f, nil
}
