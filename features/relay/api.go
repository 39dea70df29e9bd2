package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/smartproxy/smartproxy/httpapi"
)

// notFound is the server's answer for an unknown URL: a route the allow-list leaves
// out looks exactly like one that does not exist.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte("Requested url was not found"))
}

// allow serves h only if the allow-list has group.
func (f *Feature) allow(group string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !f.allowed[group] {
			notFound(w)
			return
		}
		h(w, r)
	}
}

// target is r's escaped path and query, as sent on.
func target(r *http.Request) string {
	t := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		t += "?" + r.URL.RawQuery
	}
	return t
}

// keyPattern bounds an idempotency key taken from a caller.
var keyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)

// enqueue is POST of facts and config reports: queued durably, answered 201, then
// delivered in order by the delivery loop.
func (f *Feature) enqueue(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpapi.Error(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body is larger than %d bytes", tooBig.Limit))
			return
		}
		httpapi.Error(w, r, http.StatusBadRequest, fmt.Sprintf("Reading the request body: %v", err))
		return
	}
	// A key from the caller (a previous relay, or a client retrying) is kept, so a
	// request sent twice is stored once by the core.
	key := r.Header.Get(IdempotencyKeyHeader)
	if !keyPattern.MatchString(key) {
		key = uuid.NewString()
	} else if f.queue.Holds(key) {
		f.accepted(w, key)
		return
	}
	header := http.Header{}
	for _, name := range queuedHeaders {
		if v := r.Header.Values(name); len(v) > 0 {
			header[name] = append([]string(nil), v...)
		}
	}
	header.Set("X-Forwarded-For", f.trust.forwardedFor(r))
	f.trust.setOrigin(r, header)
	rec := Record{Key: key, Method: r.Method, Target: target(r), Header: header, Enqueued: time.Now().UTC(), Body: body}
	if err := f.queue.Append(rec); err != nil {
		if errors.Is(err, ErrQueueFull) {
			f.queueFull.Add(1)
			st := f.queue.Stats()
			w.Header().Set("Retry-After", "60")
			httpapi.Error(w, r, http.StatusServiceUnavailable, fmt.Sprintf(
				"Relay queue is full (%d requests, %d bytes waiting for %s); try again later", st.Depth, st.Bytes, f.next.base.Redacted()))
			return
		}
		httpapi.Error(w, r, http.StatusServiceUnavailable, fmt.Sprintf("Relay could not queue the request: %v", err))
		return
	}
	f.accepted(w, key)
}

func (f *Feature) accepted(w http.ResponseWriter, key string) {
	w.Header().Set(IdempotencyKeyHeader, key)
	httpapi.JSON(w, http.StatusCreated, map[string]any{"queued": true, "idempotency_key": key})
}

// node is GET /node/<certname>: the ENC, forwarded live. A 200 is cached; when the
// next hop does not answer (or answers that it cannot reach the core), the cached
// answer is served, marked stale.
func (f *Feature) node(w http.ResponseWriter, r *http.Request) {
	certname := httpapi.PathParam(r, "certname")
	if !certnamePattern.MatchString(certname) {
		notFound(w) // not Foreman's /node/:name route
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	resp, err := f.next.send(ctx, http.MethodGet, target(r), f.headersFor(r), nil, 0)
	if err == nil && !unreachableStatus(resp.StatusCode) {
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.Header.Get(StaleHeader) == "" {
			body, rerr := io.ReadAll(resp.Body)
			if rerr != nil {
				err = rerr
			} else {
				if serr := f.enc.store(certname, r.URL.RawQuery, body); serr != nil {
					httpapi.Logger(r).Warnf("Relay: caching the ENC answer for %s: %v", certname, serr)
				}
				for name, values := range forwardHeaders(resp.Header) {
					w.Header()[name] = values
				}
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(body)
				return
			}
		} else {
			if cerr := copyAnswer(w, resp); cerr != nil {
				httpapi.Logger(r).Warnf("Relay: passing the ENC answer for %s on: %v", certname, cerr)
			}
			return
		}
	}
	reason := "no answer"
	if err != nil {
		reason = err.Error()
	} else {
		reason = "HTTP " + resp.Status
		resp.Body.Close()
	}
	body, stored, cerr := f.enc.load(certname, r.URL.RawQuery)
	if cerr != nil {
		httpapi.Error(w, r, http.StatusBadGateway, fmt.Sprintf("Relay: ENC for %s: next hop %s unreachable (%s) and no cached answer",
			certname, f.next.base.Redacted(), reason))
		return
	}
	f.staleServed.Add(1)
	httpapi.Logger(r).Warnf("Relay: ENC for %s: next hop %s unreachable (%s); serving the answer cached at %s",
		certname, f.next.base.Redacted(), reason, stored.UTC().Format(time.RFC3339))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set(StaleHeader, "true")
	w.Header().Set("Last-Modified", stored.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// unreachableStatus are answers of a relay or gateway that could not reach what is
// behind it: the ENC falls back to its cache for them too.
func unreachableStatus(code int) bool {
	return code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout
}

// headersFor are r's end-to-end headers plus this hop's X-Forwarded-For and the
// client's origin (X-Forwarded-Proto/-Host).
func (f *Feature) headersFor(r *http.Request) http.Header {
	h := forwardHeaders(r.Header)
	h.Set("X-Forwarded-For", f.trust.forwardedFor(r))
	f.trust.setOrigin(r, h)
	return h
}

// passThrough forwards /unattended, /userdata and /register live: hosts being built
// wait for their template and registration script.
func (f *Feature) passThrough(w http.ResponseWriter, r *http.Request) {
	f.forward(w, r, f.next, target(r))
}

// downstreamProxy is /proxy/<name>/...: the core (or an inner relay) calling a proxy of
// this relay's zone, which it cannot reach directly.
func (f *Feature) downstreamProxy(w http.ResponseWriter, r *http.Request) {
	name := httpapi.PathParam(r, "name")
	h := f.downHops[name]
	if h == nil {
		notFound(w)
		return
	}
	rest := strings.TrimPrefix(r.URL.EscapedPath(), "/proxy/"+name)
	if rest == "" {
		rest = "/"
	}
	if r.URL.RawQuery != "" {
		rest += "?" + r.URL.RawQuery
	}
	f.forward(w, r, h, rest)
}

// forward sends r to h at t and passes the answer back as it is.
func (f *Feature) forward(w http.ResponseWriter, r *http.Request, h *hop, t string) {
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	var body io.Reader = r.Body
	length := r.ContentLength
	if r.Body == nil || r.Body == http.NoBody {
		body, length = nil, 0
	}
	resp, err := h.send(ctx, r.Method, t, f.headersFor(r), body, length)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadGateway, fmt.Sprintf("Relay: %s %s: %s did not answer: %v", r.Method, r.URL.Path, h.base.Redacted(), err))
		return
	}
	defer resp.Body.Close()
	if err := copyAnswer(w, resp); err != nil {
		httpapi.Logger(r).Warnf("Relay: passing the answer to %s %s on: %v", r.Method, r.URL.Path, err)
	}
}
