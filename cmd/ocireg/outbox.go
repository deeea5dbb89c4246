package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ocireg/ociregistry"
)

// eventsConfig is the config file's events section: what the registry's
// changes are told to, through a durable outbox.
type eventsConfig struct {
	dir        string // the outbox, one per replica
	maxPending int    // events waiting for an endpoint; past it, changes are refused
	endpoints  []endpointConfig
}

// endpointConfig is an endpoint that events are delivered to.
type endpointConfig struct {
	name    string // names its folder in the outbox
	url     string
	format  string // formatDistribution or formatCloudEvents
	headers http.Header
	timeout time.Duration // of one delivery
}

// The formats events are delivered in.
const (
	formatDistribution = "distribution" // CNCF Distribution's notification envelope
	formatCloudEvents  = "cloudevents"  // CloudEvents 1.0, structured mode
)

// Defaults of the events section.
const (
	defaultMaxPendingEvents = 100000
	defaultEventTimeout     = 10 * time.Second
)

// event is a change of the registry, as the outbox keeps it and as
// Distribution's envelope holds it.
type event struct {
	ID        string       `json:"id"`
	Timestamp time.Time    `json:"timestamp"`
	Action    string       `json:"action"` // push, mount or delete
	Target    eventTarget  `json:"target"`
	Request   eventRequest `json:"request"`
	Actor     eventActor   `json:"actor"`
	Source    eventSource  `json:"source"`
}

type eventTarget struct {
	MediaType  string             `json:"mediaType,omitempty"`
	Digest     ociregistry.Digest `json:"digest,omitempty"`
	Size       int64              `json:"size,omitempty"`
	Length     int64              `json:"length,omitempty"`
	Repository string             `json:"repository"`
	FromRepo   string             `json:"fromRepository,omitempty"`
	URL        string             `json:"url,omitempty"`
	Tag        string             `json:"tag,omitempty"`
}

type eventRequest struct {
	ID        string `json:"id,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Host      string `json:"host,omitempty"`
	Method    string `json:"method,omitempty"`
	UserAgent string `json:"useragent,omitempty"`
}

type eventActor struct {
	Name string `json:"name,omitempty"`
}

type eventSource struct {
	Addr       string `json:"addr,omitempty"`
	InstanceID string `json:"instanceID,omitempty"`
}

// errOutboxFull says that an endpoint has as many events waiting as the
// outbox may hold: changes wait until it takes some.
var errOutboxFull = ociregistry.NewHTTPError(
	fmt.Errorf("events are waiting for an endpoint that does not take them; try again later: %w", ociregistry.ErrTooManyRequests),
	http.StatusTooManyRequests)

// outbox holds the events not yet delivered, a file each in a folder per
// endpoint, written and synced before the change they tell of is
// answered, and removed once the endpoint took them.
type outbox struct {
	cfg    eventsConfig
	lock   *os.File     // holds the outbox for this process
	logger *slog.Logger // nil: none

	mu       sync.Mutex
	seq      uint64
	reserved int                 // slots taken by changes in progress
	writing  map[uint64]struct{} // events being written
	queues   []*queue            // one per endpoint, as cfg.endpoints
	notify   []chan struct{}
}

// queue is an endpoint's waiting events, by sequence number.
type queue struct {
	dir     string
	pending []uint64
}

// openOutbox makes or opens the outbox that cfg describes, with the
// events a previous run left in it.
func openOutbox(cfg eventsConfig) (*outbox, error) {
	o := &outbox{cfg: cfg, writing: map[uint64]struct{}{}}
	if err := os.MkdirAll(cfg.dir, 0o700); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	lock, err := lockOutbox(cfg.dir)
	if err != nil {
		return nil, err
	}
	o.lock = lock
	for _, ep := range cfg.endpoints {
		dir := filepath.Join(cfg.dir, ep.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			o.close()
			return nil, fmt.Errorf("events: %w", err)
		}
		// A change must not be made that cannot be told.
		if err := writeSynced(dir, ".probe", nil); err != nil {
			o.close()
			return nil, fmt.Errorf("events: outbox %s cannot be written: %w", dir, err)
		}
		os.Remove(filepath.Join(dir, ".probe"))
		entries, err := os.ReadDir(dir)
		if err != nil {
			o.close()
			return nil, fmt.Errorf("events: %w", err)
		}
		q := &queue{dir: dir}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempPrefix) {
				// A file that a crash left half written.
				os.Remove(filepath.Join(dir, e.Name()))
				continue
			}
			name, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(name, 10, 64)
			if err != nil || eventFile(n) != e.Name() {
				// Not one of ours.
				continue
			}
			q.pending = append(q.pending, n)
			o.seq = max(o.seq, n)
		}
		slices.Sort(q.pending)
		o.queues = append(o.queues, q)
		o.notify = append(o.notify, make(chan struct{}, 1))
	}
	return o, nil
}

// close lets the outbox go.
func (o *outbox) close() {
	o.lock.Close()
}

// reserve takes a place for one event in every endpoint's queue, for a
// change about to be made, and returns errOutboxFull when one is full.
// Each reserve is followed by add or release.
func (o *outbox) reserve() error {
	return o.reserveN(1)
}

// reserveN takes places for k events, as reserve does for one; each is
// followed by add, commit or abort, or release.
func (o *outbox) reserveN(k int) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, q := range o.queues {
		if len(q.pending)+o.reserved+k > o.cfg.maxPending {
			return errOutboxFull
		}
	}
	o.reserved += k
	return nil
}

// release gives back a place reserve took, for a change that failed.
func (o *outbox) release() {
	o.mu.Lock()
	o.reserved--
	o.mu.Unlock()
}

// add numbers ev and writes it, in the place reserve took.
func (o *outbox) add(ev *event) error {
	n := o.number()
	if err := o.writeFiles(n, ev); err != nil {
		o.abort(n)
		return err
	}
	o.commit(n)
	return nil
}

// number takes the next number for an event, which holds back the events
// numbered after it until write or drop.
func (o *outbox) number() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.seq++
	o.writing[o.seq] = struct{}{}
	return o.seq
}

// commit hands event n, written, to the deliverers, in the place
// reserve took.
func (o *outbox) commit(n uint64) {
	o.mu.Lock()
	o.reserved--
	delete(o.writing, n)
	for _, q := range o.queues {
		// Numbers are taken in order but events may be committed
		// out of it: keep the queue sorted.
		at, _ := slices.BinarySearch(q.pending, n)
		q.pending = slices.Insert(q.pending, at, n)
	}
	o.mu.Unlock()
	o.wake()
}

// abort gives up event n, numbered and perhaps written, and the place
// reserve took for it.
func (o *outbox) abort(n uint64) {
	for _, q := range o.queues {
		os.Remove(filepath.Join(q.dir, eventFile(n)))
	}
	o.mu.Lock()
	o.reserved--
	delete(o.writing, n)
	o.mu.Unlock()
	// The events after it may go now.
	o.wake()
}

// wake tells every endpoint's deliverer to look again.
func (o *outbox) wake() {
	for _, c := range o.notify {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// writeFiles writes ev as event n to every endpoint's folder, each file
// synced with its folder; commit or abort follows.
func (o *outbox) writeFiles(n uint64, ev *event) error {
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	for _, q := range o.queues {
		if err := writeSynced(q.dir, eventFile(n), data); err != nil {
			return fmt.Errorf("events: recording the change: %w", err)
		}
	}
	return nil
}

// tempPrefix starts the names of the files being written.
const tempPrefix = ".tmp-"

// eventFile is the name of event n's file.
func eventFile(n uint64) string {
	return fmt.Sprintf("%020d.json", n)
}

// writeSynced writes data to dir/name through a temporary file, synced
// before it is renamed into place and the folder synced after, so that
// the event is on disk whole or not at all.
func writeSynced(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tempPrefix)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// next returns up to max of endpoint i's waiting events, oldest first,
// and none that comes after an event still being written: events are
// written at once, but delivered in the order they were numbered.
func (o *outbox) next(i, max int) ([]uint64, [][]byte) {
	o.mu.Lock()
	q := o.queues[i]
	var ns []uint64
	for _, n := range q.pending {
		if len(ns) == max || o.writtenBefore(n) {
			break
		}
		ns = append(ns, n)
	}
	o.mu.Unlock()
	var (
		evs  [][]byte
		kept []uint64
	)
	for _, n := range ns {
		data, err := os.ReadFile(filepath.Join(q.dir, eventFile(n)))
		if err == nil {
			var ev event
			err = json.Unmarshal(data, &ev)
		}
		if err != nil {
			// Removed, unreadable or damaged by something else
			// than the server: it cannot be delivered, nor stop
			// the rest.
			if o.logger != nil {
				o.logger.Error("events: an event in the outbox cannot be read; dropped", "file", filepath.Join(q.dir, eventFile(n)), "err", err)
			}
			o.done(i, []uint64{n})
			continue
		}
		evs, kept = append(evs, data), append(kept, n)
	}
	return kept, evs
}

// writtenBefore reports whether an event numbered before n is still
// being written. o.mu is held.
func (o *outbox) writtenBefore(n uint64) bool {
	for w := range o.writing {
		if w < n {
			return true
		}
	}
	return false
}

// done removes events ns, delivered, from endpoint i's queue.
func (o *outbox) done(i int, ns []uint64) {
	q := o.queues[i]
	for _, n := range ns {
		// A file that stays (the process dies first) is delivered
		// again: at least once.
		os.Remove(filepath.Join(q.dir, eventFile(n)))
	}
	o.mu.Lock()
	q.pending = slices.DeleteFunc(q.pending, func(n uint64) bool { _, found := slices.BinarySearch(ns, n); return found })
	o.mu.Unlock()
}

// pending returns how many events wait for endpoint i.
func (o *outbox) pending(i int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.queues[i].pending)
}

// newEventID returns a random (version 4) UUID.
func newEventID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
