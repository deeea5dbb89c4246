package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

const (
	// eventBatch is how many events one delivery in Distribution's
	// envelope holds at most.
	eventBatch = 100
	// maxEventBackoff is the longest wait between two tries of a
	// delivery that failed.
	maxEventBackoff = 5 * time.Minute
)

// refusedFor is how long an endpoint refuses an event (a 4xx other than
// 408 and 429) before the event is dropped; a variable for the tests.
var refusedFor = 10 * time.Minute

// deliver sends endpoint i's events, oldest first, as they come, until
// ctx ends: a delivery that fails is tried again, with the same events
// and ids, after a wait that doubles up to maxEventBackoff, and the
// events behind it wait, so that an endpoint sees them in order. A batch
// that the endpoint refuses (4xx) is sent again an event at a time, and
// an event it refuses alone for refusedFor is dropped and logged.
func (o *outbox) deliver(ctx context.Context, i int, client *http.Client, logger *slog.Logger) {
	ep := o.cfg.endpoints[i]
	maxBatch := eventBatch
	if ep.format == formatCloudEvents {
		maxBatch = 1
	}
	batch := maxBatch
	backoff := time.Second
	var refusedSince time.Time // of the event at the head, refused alone
	for {
		ns, evs := o.next(i, batch)
		if len(ns) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-o.notify[i]:
			}
			continue
		}
		err := send(ctx, client, ep, evs)
		if err == nil {
			o.done(i, ns)
			backoff, batch, refusedSince = time.Second, maxBatch, time.Time{}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		var refused *refusedError
		if errors.As(err, &refused) {
			if len(ns) > 1 {
				// One of them, or their number, may be what the
				// endpoint refuses: send them one by one.
				batch = 1
				continue
			}
			// A refusal may pass (a route being deployed, keys
			// being rotated): only one that lasts is taken for
			// good, lest the event hold back every event after it.
			if refusedSince.IsZero() {
				refusedSince = time.Now()
			} else if time.Since(refusedSince) >= refusedFor {
				logger.Error("events: endpoint refused an event for good; dropped", "endpoint", ep.name, "event", string(evs[0]), "err", err)
				o.done(i, ns)
				refusedSince = time.Time{}
				continue
			}
		}
		logger.Warn("events: delivery failed; trying again", "endpoint", ep.name, "events", len(ns), "pending", o.pending(i), "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxEventBackoff)
	}
}

// send posts evs, events as the outbox holds them, to ep in its format,
// and returns an error unless ep answers 2xx.
func send(ctx context.Context, client *http.Client, ep endpointConfig, evs [][]byte) error {
	var body []byte
	contentType := "application/vnd.docker.distribution.events.v1+json"
	if ep.format == formatCloudEvents {
		ce, err := cloudEvent(evs[0])
		if err != nil {
			return err
		}
		body, contentType = ce, "application/cloudevents+json"
	} else {
		body = append([]byte(`{"events":[`), bytes.Join(evs, []byte(","))...)
		body = append(body, "]}"...)
	}
	ctx, cancel := context.WithTimeout(ctx, ep.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", ep.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, vs := range ep.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	// Reading some of the answer lets the connection be used again.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return &refusedError{fmt.Errorf("%s answered %s", ep.url, resp.Status)}
	}
	return fmt.Errorf("%s answered %s", ep.url, resp.Status)
}

// refusedError is an endpoint's refusal of a delivery (a 4xx other than
// 408 and 429), which sending it again would not change.
type refusedError struct{ error }

// cloudEvent returns the CloudEvents 1.0 structured form of data, an
// event as the outbox holds it.
func cloudEvent(data []byte) ([]byte, error) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	subject := ev.Target.Repository
	switch {
	case ev.Target.Tag != "":
		subject += ":" + ev.Target.Tag
	case ev.Target.Digest != "":
		subject += "@" + string(ev.Target.Digest)
	}
	return json.Marshal(map[string]any{
		"specversion":     "1.0",
		"id":              ev.ID,
		"source":          "/ocireg/" + url.PathEscape(ev.Source.Addr),
		"type":            "io.ocireg.registry." + ev.Action,
		"subject":         subject,
		"time":            ev.Timestamp.Format(time.RFC3339Nano),
		"datacontenttype": "application/json",
		"data":            json.RawMessage(data),
	})
}
