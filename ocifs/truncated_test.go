package ocifs_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/go-quicktest/qt"
	"github.com/ocireg/ociregistry"
	"github.com/ocireg/ociregistry/ocitest"
	"github.com/opencontainers/go-digest"
)

// cutReader yields data and then fails as net/http's request body does
// when the connection closes before Content-Length bytes came.
type cutReader struct{ data []byte }

func (r *cutReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestUploadCutShort checks that a chunked upload whose reader fails
// with io.ErrUnexpectedEOF fails, rather than taking the bytes read so
// far as the whole chunk: committing them would store a truncated blob.
func TestUploadCutShort(t *testing.T) {
	r, _ := newRegistry(t)
	ctx := t.Context()
	data := []byte("ten bytes!")
	w, err := r.PushBlobChunked(ctx, "a", 0)
	qt.Assert(t, qt.IsNil(err))
	_, err = w.(io.ReaderFrom).ReadFrom(&cutReader{data: data})
	qt.Assert(t, qt.ErrorIs(err, io.ErrUnexpectedEOF))
	w.Cancel()

	_, err = r.PushBlob(ctx, "a", ociregistry.Descriptor{Digest: digest.FromBytes(data), Size: -1}, &cutReader{data: data})
	qt.Assert(t, qt.ErrorIs(err, io.ErrUnexpectedEOF))
	_, err = r.ResolveBlob(ctx, "a", digest.FromBytes(data))
	qt.Assert(t, qt.ErrorIs(err, ociregistry.ErrBlobUnknown))
}

// TestHTTPBodyCutShort sends, over a raw TCP connection, uploads whose
// Content-Length promises 1 MiB but whose body holds 10 bytes (with the
// digest of those 10 bytes) before the client closes its side. The
// server must not answer 201 and must store no blob, with ocifs and
// ocimem behind it.
func TestHTTPBodyCutShort(t *testing.T) {
	data := []byte("ten bytes!")
	dig := digest.FromBytes(data)
	for _, b := range testBackends {
		for _, method := range []string{"monolithic PUT", "POST with digest", "PATCH"} {
			t.Run(b.name+"/"+method, func(t *testing.T) {
				host := ocitest.NewServer(t, b.new(t))
				var target, verb string
				switch method {
				case "POST with digest":
					verb, target = "POST", "/v2/a/blobs/uploads/?digest="+string(dig)
				case "monolithic PUT":
					verb, target = "PUT", startUpload(t, host)+"?digest="+string(dig)
				case "PATCH":
					verb, target = "PATCH", startUpload(t, host)
				}
				status := sendCut(t, host, verb, target, data)
				qt.Check(t, qt.Not(qt.Equals(status, http.StatusCreated)))
				if method == "PATCH" {
					qt.Check(t, qt.Not(qt.Equals(status, http.StatusAccepted)))
				}
				resp, err := http.Head("http://" + host + "/v2/a/blobs/" + string(dig))
				qt.Assert(t, qt.IsNil(err))
				resp.Body.Close()
				qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusNotFound))
			})
		}
	}
}

// startUpload starts an upload in repository a and returns its path.
func startUpload(t *testing.T, host string) string {
	resp, err := http.Post("http://"+host+"/v2/a/blobs/uploads/", "", nil)
	qt.Assert(t, qt.IsNil(err))
	resp.Body.Close()
	qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted))
	loc := resp.Header.Get("Location")
	if i := strings.Index(loc, "/v2/"); i > 0 {
		loc = loc[i:]
	}
	return loc
}

// sendCut sends a request that declares a 1 MiB body, sends body, closes
// the connection's writing side and returns the status of the answer, or
// 0 when the server closed the connection without one.
func sendCut(t *testing.T, host, method, target string, body []byte) int {
	conn, err := net.Dial("tcp", host)
	qt.Assert(t, qt.IsNil(err))
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", method, target, host, 1<<20)
	_, err = conn.Write(body)
	qt.Assert(t, qt.IsNil(err))
	qt.Assert(t, qt.IsNil(conn.(*net.TCPConn).CloseWrite()))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0
		}
		t.Fatalf("reading answer: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
