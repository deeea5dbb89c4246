package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
)

// TestIdleReadTimeout checks that a request body that stops flowing is
// cut off after the idle timeout, while one that keeps flowing for longer
// than the timeout in all is read whole.
func TestIdleReadTimeout(t *testing.T) {
	// The margins are wide (a steady writer pauses a quarter of the
	// timeout) so that a loaded machine's scheduling delays cannot make
	// a steady body look stalled.
	const timeout = time.Second
	type result struct {
		n   int64
		err error
	}
	results := make(chan result, 1)
	srv := httptest.NewServer(idleReadTimeout(timeout, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n, err := io.Copy(io.Discard, req.Body)
		results <- result{n, err}
	})))
	defer srv.Close()

	tests := []struct {
		name    string
		pauses  []time.Duration // before each 1000-byte write
		wantErr bool
	}{
		{name: "Steady", pauses: []time.Duration{0, timeout / 4, timeout / 4, timeout / 4, timeout / 4, timeout / 4, timeout / 4}},
		{name: "Stalled", pauses: []time.Duration{0, 3 * timeout}, wantErr: true},
	}
	for _, test := range tests {
		t.Run(test.name, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				for _, d := range test.pauses {
					time.Sleep(d)
					if _, err := pw.Write(make([]byte, 1000)); err != nil {
						return
					}
				}
				pw.Close()
			}()
			req, err := http.NewRequest("PUT", srv.URL, pr)
			qt.Assert(t, qt.IsNil(err))
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			pr.CloseWithError(io.ErrClosedPipe)
			got := <-results
			if test.wantErr {
				qt.Assert(t, qt.IsNotNil(got.err))
				qt.Assert(t, qt.Equals(got.n, int64(1000)))
			} else {
				qt.Assert(t, qt.IsNil(got.err))
				qt.Assert(t, qt.Equals(got.n, int64(1000*len(test.pauses))))
			}
		})
	}
}

// connWriter is a ResponseWriter with a ReadFrom, as net/http's is, and
// the write deadline of a connection. It records how it is written to.
type connWriter struct {
	httptest.ResponseRecorder
	deadlines int
	writes    []int   // lengths of the Writes
	readFroms []int64 // limits of the ReadFroms' *io.LimitedReader
	// sendfile reports whether every ReadFrom had what net's sendfile
	// takes: an *io.LimitedReader of a file.
	sendfile bool
}

func (w *connWriter) SetWriteDeadline(time.Time) error {
	w.deadlines++
	return nil
}

func (w *connWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.ResponseRecorder.Write(p)
}

func (w *connWriter) ReadFrom(src io.Reader) (int64, error) {
	lr, ok := src.(*io.LimitedReader)
	if !ok {
		w.sendfile = false
		return io.Copy(writerOnly{w}, src)
	}
	_, isFile := lr.R.(syscall.Conn)
	w.sendfile = w.sendfile && isFile
	w.readFroms = append(w.readFroms, lr.N)
	return io.Copy(w.ResponseRecorder.Body, src)
}

// TestDeadlineWriterSteps checks that deadlineWriter sends a response in
// steps of writeStep, each under a fresh deadline, and that a file
// still reaches the connection's ReadFrom as sendfile wants it, for a
// whole file and for part of one.
func TestDeadlineWriterSteps(t *testing.T) {
	content := bytes.Repeat([]byte("abcdefgh"), (5*writeStep/2)/8)
	name := filepath.Join(t.TempDir(), "blob")
	qt.Assert(t, qt.IsNil(os.WriteFile(name, content, 0o666)))
	f, err := os.Open(name)
	qt.Assert(t, qt.IsNil(err))
	defer f.Close()
	newWriter := func() (*deadlineWriter, *connWriter) {
		cw := &connWriter{ResponseRecorder: *httptest.NewRecorder(), sendfile: true}
		return &deadlineWriter{w: cw, rc: http.NewResponseController(cw), timeout: time.Minute}, cw
	}

	// A whole file, as io.Copy from an ocifs blob does it.
	dw, cw := newWriter()
	n, err := io.Copy(dw, f)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(n, int64(len(content))))
	qt.Check(t, qt.IsTrue(bytes.Equal(cw.Body.Bytes(), content)))
	qt.Check(t, qt.DeepEquals(cw.readFroms, []int64{writeStep, writeStep, writeStep}))
	qt.Check(t, qt.IsTrue(cw.sendfile))
	qt.Check(t, qt.Equals(cw.deadlines, 3))

	// Part of a file, as a range request reads it.
	_, err = f.Seek(10, io.SeekStart)
	qt.Assert(t, qt.IsNil(err))
	dw, cw = newWriter()
	lr := &io.LimitedReader{R: f, N: writeStep + 100}
	n, err = io.Copy(dw, lr)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(n, int64(writeStep+100)))
	qt.Check(t, qt.Equals(lr.N, int64(0)))
	qt.Check(t, qt.IsTrue(bytes.Equal(cw.Body.Bytes(), content[10:10+writeStep+100])))
	qt.Check(t, qt.DeepEquals(cw.readFroms, []int64{writeStep, 100}))
	qt.Check(t, qt.IsTrue(cw.sendfile))

	// Content in memory comes in one Write, which goes out in steps.
	dw, cw = newWriter()
	m, err := dw.Write(content)
	qt.Assert(t, qt.IsNil(err))
	qt.Check(t, qt.Equals(m, len(content)))
	qt.Check(t, qt.DeepEquals(cw.writes, []int{writeStep, writeStep, writeStep / 2}))
	qt.Check(t, qt.IsTrue(bytes.Equal(cw.Body.Bytes(), content)))
	qt.Check(t, qt.IsTrue(cw.deadlines >= 1))
}

// slowReader yields its chunks, waiting pause before each.
type slowReader struct {
	chunks [][]byte
	pause  time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	time.Sleep(r.pause)
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	if len(r.chunks[0]) == 0 {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// TestIdleWriteTimeoutSlowSource serves a response whose source (as a
// proxy's upstream) is slow but steady, taking several write timeouts in
// all, to a client that reads at once: the time spent waiting for the
// source is not the client's idleness, so the whole response arrives.
func TestIdleWriteTimeoutSlowSource(t *testing.T) {
	const timeout = 300 * time.Millisecond
	var want []byte
	src := &slowReader{pause: timeout / 3}
	for i := range 12 {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 1000)
		src.chunks = append(src.chunks, chunk)
		want = append(want, chunk...)
	}
	srv := httptest.NewServer(idleWriteTimeout(timeout, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// io.Copy hands the source to the writer's ReadFrom, as
		// ociserver does with a blob reader without WriteTo.
		io.Copy(w, src)
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	qt.Assert(t, qt.IsNil(err))
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsTrue(bytes.Equal(got, want)), qt.Commentf("got %d bytes of %d", len(got), len(want)))
}
