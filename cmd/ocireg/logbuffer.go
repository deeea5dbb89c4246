package main

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// logBuffer is the writer of the server's log: a request writes its
// line to a buffer rather than making a system call of its own (a write
// to stderr per request cost the server more than answering a manifest
// HEAD does), and the buffer goes out when it fills and every
// flushEvery, so that a line is never held for longer than that. Its
// memory is bounded by the buffer's size.
type logBuffer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	closed bool // after Close, writes go straight out
	stop   chan struct{}
	done   chan struct{}
}

// flushEvery bounds how long a log line waits in the buffer.
const flushEvery = 100 * time.Millisecond

// newLogBuffer returns a logBuffer writing to w, flushed by a goroutine
// that Close stops.
func newLogBuffer(w io.Writer) *logBuffer {
	b := &logBuffer{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go b.flushLoop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.w.Write(p)
	if err == nil && b.closed {
		err = b.w.Flush()
	}
	return n, err
}

func (b *logBuffer) flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.w.Flush()
}

func (b *logBuffer) flushLoop() {
	defer close(b.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			b.flush()
		case <-b.stop:
			b.flush()
			return
		}
	}
}

// Close stops the flushing goroutine and writes out what is buffered;
// later writes go straight out.
func (b *logBuffer) Close() {
	close(b.stop)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.w.Flush()
}
