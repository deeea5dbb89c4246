package replicas

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-quicktest/qt"
	"github.com/opencontainers/go-digest"
)

// uploadLimitArgs are the limits the replicas of
// checkUploadsAcrossReplicas run with: two uploads in progress each, idle
// after 4 s (so that a replica asks the store about a session it has not
// seen for 1 s, and sweeps every 2 s).
var uploadLimitArgs = []string{"--max-uploads", "2", "--upload-timeout", "4s"}

// checkUploadsAcrossReplicas checks the upload limits of replicas, run
// with uploadLimitArgs, whose clients' requests land on any of them:
// sessions that one replica started and that ended through another stop
// taking its slots, and a session that one replica started is not
// cancelled as idle while data comes to it through others.
func checkUploadsAcrossReplicas(t *testing.T, hosts []string) {
	const repo = "uploads/across"
	start := func(host string) (string, int) {
		resp, err := http.Post("http://"+host+"/v2/"+repo+"/blobs/uploads/", "", nil)
		qt.Assert(t, qt.IsNil(err))
		resp.Body.Close()
		return resp.Header.Get("Location"), resp.StatusCode
	}
	url := func(host, loc string) string {
		if strings.HasPrefix(loc, "/") {
			return "http://" + host + loc
		}
		return loc
	}
	query := func(loc string) string {
		if strings.Contains(loc, "?") {
			return "&"
		}
		return "?"
	}

	// Two sessions started through the first replica, finished through
	// the second: the first replica stops counting them once it asks
	// the store, a second after it last saw them.
	for i := range 2 {
		loc, status := start(hosts[0])
		qt.Assert(t, qt.Equals(status, http.StatusAccepted))
		data := []byte(fmt.Sprint("blob ", i))
		mustDo(t, "PUT", url(hosts[1], loc)+query(loc)+"digest="+digest.FromBytes(data).String(), "application/octet-stream", data, http.StatusCreated)
	}
	time.Sleep(1500 * time.Millisecond)
	loc, status := start(hosts[0])
	qt.Assert(t, qt.Equals(status, http.StatusAccepted), qt.Commentf("a new upload on the first replica, whose earlier ones ended on another"))

	// The first replica does not see this session again for several
	// of its idle timeouts, while chunks come through the others.
	var data []byte
	for i := range 5 {
		chunk := []byte(fmt.Sprintf("chunk %d;", i))
		req, err := http.NewRequest("PATCH", url(hosts[1+i%2], loc), strings.NewReader(string(chunk)))
		qt.Assert(t, qt.IsNil(err))
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Content-Range", fmt.Sprintf("%d-%d", len(data), len(data)+len(chunk)-1))
		resp, err := http.DefaultClient.Do(req)
		qt.Assert(t, qt.IsNil(err))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		qt.Assert(t, qt.Equals(resp.StatusCode, http.StatusAccepted), qt.Commentf("PATCH %d through replica %d: %s", i, 1+i%2, body))
		data = append(data, chunk...)
		time.Sleep(2 * time.Second)
	}
	mustDo(t, "PUT", url(hosts[2], loc)+query(loc)+"digest="+digest.FromBytes(data).String(), "", nil, http.StatusCreated)
	resp, err := http.Get("http://" + hosts[0] + "/v2/" + repo + "/blobs/" + digest.FromBytes(data).String())
	qt.Assert(t, qt.IsNil(err))
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	qt.Assert(t, qt.Equals(string(got), string(data)))
}
