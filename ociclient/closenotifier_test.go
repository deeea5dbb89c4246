package ociclient

import (
	"bytes"
	"context"
	"io"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
)

// blockingReader signals entered on its first Read and then blocks
// until release is closed.
type blockingReader struct {
	entered, release chan struct{}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	close(r.entered)
	<-r.release
	return 0, io.EOF
}

// TestCloseNotifierStartsNoGoroutine checks that closing a request body
// while a Read of it blocks (as an HTTP/2 transport does to end a
// request whose context ended) leaves nothing behind waiting for that
// Read, and that done is closed only once the Read has returned.
func TestCloseNotifierStartsNoGoroutine(t *testing.T) {
	r := &blockingReader{entered: make(chan struct{}), release: make(chan struct{})}
	c := &closeNotifier{r: r, done: make(chan struct{})}
	readDone := make(chan struct{})
	go func() {
		c.Read(make([]byte, 10))
		close(readDone)
	}()
	<-r.entered

	// Goroutines started by Close carry its label.
	label := "closeNotifier-" + t.Name()
	pprof.Do(context.Background(), pprof.Labels("test", label), func(context.Context) {
		qt.Assert(t, qt.IsNil(c.Close()))
	})
	var profile bytes.Buffer
	qt.Assert(t, qt.IsNil(pprof.Lookup("goroutine").WriteTo(&profile, 1)))
	qt.Assert(t, qt.IsFalse(strings.Contains(profile.String(), label)), qt.Commentf("Close left a goroutine:\n%s", profile.String()))
	select {
	case <-c.done:
		t.Fatal("done closed while a Read runs")
	default:
	}

	close(r.release)
	<-readDone
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatal("done not closed once the Read returned")
	}
	_, err := c.Read(make([]byte, 10))
	qt.Assert(t, qt.ErrorIs(err, errBodyClosed))
	// Closing again is harmless.
	qt.Assert(t, qt.IsNil(c.Close()))
}

// TestCloseNotifierClosedIdle checks that closing a body that no Read
// is running on closes done at once.
func TestCloseNotifierClosedIdle(t *testing.T) {
	c := &closeNotifier{r: strings.NewReader("x"), done: make(chan struct{})}
	qt.Assert(t, qt.IsNil(c.Close()))
	select {
	case <-c.done:
	default:
		t.Fatal("done not closed")
	}
}
