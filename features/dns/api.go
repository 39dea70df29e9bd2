package dns

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	miekg "github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
)

// create is POST /dns: form fqdn, value, type. 200 with an empty body when the record
// was created or already existed with the same value, 409 when the name holds
// another value, 400 for bad input or a server's refusal.
func (f *Feature) create(w http.ResponseWriter, r *http.Request) {
	p := httpapi.Params(r)
	if !p.Has("fqdn") || !p.Has("value") || !p.Has("type") {
		httpapi.Error(w, r, http.StatusBadRequest, "'create' requires fqdn, value, and type parameters")
		return
	}
	rec, err := newRecord(p.Get("fqdn"), p.Get("value"), p.Get("type"), f.ttl)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	// The Ruby proxy quotes the owner as the client wrote it: fqdn, or for PTR the reverse name.
	owner := p.Get("fqdn")
	if rec.Type == rr.PTR {
		owner = p.Get("value")
	}
	err = f.createRecord(r.Context(), rec)
	var conflict *rr.ConflictError
	switch {
	case errors.As(err, &conflict):
		httpapi.Logger(r).Infof("dns: %s not created: %v", rec, err)
		httpapi.Error(w, r, http.StatusConflict, fmt.Sprintf("'%s 'is already in use", owner))
	case errors.Is(err, etcdstate.ErrUnavailable):
		unavailable(w, r, err)
	case err != nil:
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
	default:
		httpapi.Empty(w)
	}
}

// createRecord runs the conflict check against the provider's server, then creates.
// SRV records skip the check: a name may hold several.
func (f *Feature) createRecord(ctx context.Context, rec rr.Record) error {
	if rec.Type != rr.SRV {
		existing, err := f.provider.Lookup(ctx, rec.Name, rec.Type)
		if err != nil {
			return err
		}
		var other []string
		for _, e := range existing {
			if e.Type == rec.Type && rr.SameValue(rec.Type, e.Value, rec.Value) {
				return nil // already there: a repeated create is a no-op
			}
			other = append(other, string(e.Type)+" "+e.Value)
		}
		if len(other) > 0 {
			return &rr.ConflictError{Name: rec.Name, Reason: fmt.Sprintf("it holds %v", other)}
		}
	}
	return f.provider.Create(ctx, rec)
}

// notFound is the server's answer for a URL no route matches.
const notFound = "Requested url was not found"

// remove is DELETE /dns/:value[/:type]. The type defaults to PTR for reverse names
// and A otherwise. Deleting a record that does not exist succeeds.
func (f *Feature) remove(w http.ResponseWriter, r *http.Request) {
	name, typeName := httpapi.PathParam(r, "value"), httpapi.PathParam(r, "type")
	if strings.Contains(name, "/") || strings.Contains(typeName, "/") {
		// The router lets the last capture run over "/"; Sinatra's would not match.
		httpapi.Error(w, r, http.StatusNotFound, notFound)
		return
	}
	t, err := deleteTarget(name, typeName)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := f.provider.Delete(r.Context(), miekg.Fqdn(name), t); err != nil {
		if errors.Is(err, etcdstate.ErrUnavailable) {
			unavailable(w, r, err)
			return
		}
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return
	}
	httpapi.Empty(w)
}

// unavailable answers 503 when the shared state (dns_embedded on etcd) has no
// quorum: the record was not changed, and the message says why.
func unavailable(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.Logger(r).Errorf("dns: record not changed: %v", err)
	httpapi.Error(w, r, http.StatusServiceUnavailable, "DNS record not changed: "+err.Error())
}
