package dns

import (
	"context"
	"fmt"

	"github.com/smartproxy/smartproxy/features/dns/embedded"
	"github.com/smartproxy/smartproxy/features/dns/nsupdate"
	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/registry"
)

// Provider is what the API needs from a DNS backend. Names are absolute.
type Provider interface {
	// Lookup returns the records of type t at name, plus any CNAME at name, as the
	// authoritative server sees them now (the conflict check).
	Lookup(ctx context.Context, name string, t rr.Type) ([]rr.Record, error)
	// Create adds rec. Except for SRV it must fail with *rr.ConflictError when the
	// name gained a record of that type or a CNAME since Lookup.
	Create(ctx context.Context, rec rr.Record) error
	// Delete removes every record of type t at name; a missing record is no error.
	Delete(ctx context.Context, name string, t rr.Type) error
}

// Provider names accepted by :use_provider:.
const (
	providerNsupdate    = "dns_nsupdate"
	providerEmbedded    = "dns_embedded"
	providerNsupdateGSS = "dns_nsupdate_gss"
)

func newProvider(name string) registry.Module {
	switch name {
	case providerNsupdate:
		return nsupdate.New()
	case providerEmbedded:
		return embedded.New()
	case providerNsupdateGSS:
		return unsupported{name: name, why: "GSS-TSIG (Active Directory) updates are not supported by this proxy; " +
			"use dns_nsupdate with a TSIG key (:dns_key:) or dns_embedded"}
	}
	return nil
}

// unsupported is a provider the Ruby proxy has and we do not: selecting it fails the
// dns feature with a message saying so, instead of "unknown provider".
type unsupported struct{ name, why string }

func (u unsupported) Name() string { return u.name }

func (u unsupported) Configure(*registry.Env) error {
	return fmt.Errorf("%s: %s", u.name, u.why)
}
