package ocimem

import "hash"

// Hashing a push costs more than reading it: SHA-256 runs at a rate close
// to that of a loopback connection, so that a push hashed by the goroutine
// that reads it goes at about half the rate either would alone. A builder
// filled by a loop that reads (readFrom, write, a writer's ReadFrom)
// therefore hands what it stores to another goroutine in batches, which
// hashes it while the next batch is read. Stored bytes are never modified,
// so the hashing goroutine reads them without a lock; the builder's owner
// orders every call.
const (
	// hashBatch is how many bytes are given to the hash at a time.
	// Small content is hashed when it is finished, on the caller's
	// goroutine, and never starts another.
	hashBatch = 256 << 10

	// hashQueue is how many batches may wait for the hashing
	// goroutine; it bounds how long stopHashing waits.
	hashQueue = 8
)

// hashing is the state of a builder's hashing goroutine.
type hashing struct {
	// async is set between startHashing and stopHashing: batches may
	// then go to a goroutine.
	async bool

	// batches and done belong to the running goroutine, if any.
	batches chan []byte
	done    chan struct{}
}

// startHashing lets the builder hash on another goroutine until
// stopHashing, which the caller must call before it returns. The
// goroutine starts with the first full batch.
func (b *builder) startHashing() {
	b.async = b.h != nil
}

// stopHashing waits until every batch given to the hashing goroutine is
// hashed, and ends it. What is left of the last chunk is hashed later, by
// the next batch or by sum.
func (b *builder) stopHashing() {
	b.async = false
	if b.batches != nil {
		close(b.batches)
		<-b.done
		b.batches, b.done = nil, nil
	}
}

// hashTail gives the bytes of the last chunk that the hash has not had
// to it: to the hashing goroutine, started if need be, when there is one
// or the builder is between startHashing and stopHashing and they make a
// full batch; to b.h directly otherwise.
func (b *builder) hashTail() {
	n := len(b.chunks)
	if b.h == nil || n == 0 {
		return
	}
	last := b.chunks[n-1]
	p := last[b.hashed:]
	if len(p) == 0 {
		return
	}
	b.hashed = len(last)
	if b.batches == nil && b.async && len(p) >= hashBatch {
		b.batches = make(chan []byte, hashQueue)
		b.done = make(chan struct{})
		go hashBatches(b.h, b.batches, b.done)
	}
	if b.batches != nil {
		b.batches <- p
		return
	}
	b.h.Write(p)
}

// hashBatches writes every batch to h, and closes done once batches is
// closed and drained.
func hashBatches(h hash.Hash, batches <-chan []byte, done chan<- struct{}) {
	defer close(done)
	for p := range batches {
		h.Write(p)
	}
}

// sum returns the hash of everything committed so far. The builder may be
// added to afterwards, and the hash goes on from there.
func (b *builder) sum() hash.Hash {
	async := b.async
	b.stopHashing()
	b.hashTail()
	b.async = async
	return b.h
}
