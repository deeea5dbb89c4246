package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// htpasswd holds the users of an htpasswd file.
type htpasswd struct {
	hashes map[string][]byte

	// verified remembers the SHA-256 of each user's password last
	// checked good: clients send credentials with every request, and
	// bcrypt is slow on purpose.
	mu       sync.Mutex
	verified map[string][32]byte

	dummyOnce sync.Once
	dummyHash []byte
}

// loadHtpasswd reads an htpasswd file of "user:hash" lines whose hashes
// are bcrypt ($2a$, $2b$ or $2y$). Blank lines and lines starting with #
// are skipped. It returns an error naming the file and line of the first
// entry it cannot use or line it cannot read (one over 64 KiB).
func loadHtpasswd(name string) (*htpasswd, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	h := &htpasswd{hashes: map[string][]byte{}, verified: map[string][32]byte{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	line := 1
	for ; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		if !ok || user == "" {
			return nil, fmt.Errorf("%s:%d: want user:hash", name, line)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (make one with htpasswd -B): %v", name, line, user, err)
		}
		if _, dup := h.hashes[user]; dup {
			return nil, fmt.Errorf("%s:%d: user %q appears twice", name, line, user)
		}
		h.hashes[user] = []byte(hash)
	}
	// Scanning stops at a line too long for it, which would leave the
	// users after it out without a word.
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line, bufio.MaxScanTokenSize)
	} else if err != nil {
		return nil, fmt.Errorf("%s:%d: %v", name, line, err)
	}
	if len(h.hashes) == 0 {
		return nil, fmt.Errorf("%s: no users", name)
	}
	return h, nil
}

// verify reports whether password is user's.
func (h *htpasswd) verify(user, password string) bool {
	hash, ok := h.hashes[user]
	if !ok {
		if len(h.hashes) == 0 {
			return false
		}
		// Spend the time a real check takes, with a hash of the
		// cost of the file's, so that timing does not tell which
		// users exist.
		bcrypt.CompareHashAndPassword(h.dummy(), []byte(password))
		return false
	}
	sum := sha256.Sum256([]byte(password))
	h.mu.Lock()
	good, seen := h.verified[user]
	h.mu.Unlock()
	if seen && subtle.ConstantTimeCompare(good[:], sum[:]) == 1 {
		return true
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil {
		return false
	}
	h.mu.Lock()
	h.verified[user] = sum
	h.mu.Unlock()
	return true
}

// dummy returns a hash of the highest cost of the file's, made on first
// use: making it takes as long as checking a password, which "ocireg"
// commands other than serve should not pay.
func (h *htpasswd) dummy() []byte {
	h.dummyOnce.Do(func() {
		cost := bcrypt.MinCost
		for _, hash := range h.hashes {
			if c, err := bcrypt.Cost(hash); err == nil {
				cost = max(cost, c)
			}
		}
		h.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("dummy"), cost)
	})
	return h.dummyHash
}
