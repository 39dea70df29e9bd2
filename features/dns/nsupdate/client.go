package nsupdate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// exchange sends m over UDP with the configured timeouts, one attempt per timeout, and
// repeats it over TCP when the answer was truncated. A reply whose rcode is not
// NOERROR is returned without error for the caller to interpret.
func (p *Provider) exchange(ctx context.Context, m *dns.Msg) (*dns.Msg, error) {
	return p.exchangeVia(ctx, m, false)
}

// exchangeVia is exchange, over TCP from the start when tcp is set (large updates).
func (p *Provider) exchangeVia(ctx context.Context, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	network := "udp"
	if tcp {
		network = "tcp"
	}
	var lastErr error
	for _, timeout := range p.timeouts {
		reply, err := p.attempt(ctx, network, timeout, m)
		if err == nil && reply.Truncated && network == "udp" {
			reply, err = p.attempt(ctx, "tcp", timeout, m)
		}
		if err == nil {
			return reply, nil
		}
		if reply != nil && reply.Rcode != dns.RcodeSuccess {
			// A refusal is often unsigned or signed with an error (BADKEY, BADSIG),
			// so its signature check fails; the rcode is what matters.
			return reply, nil
		}
		var nerr net.Error
		if !errors.As(err, &nerr) || !nerr.Timeout() || ctx.Err() != nil {
			return nil, err
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no answer after %d attempts: %w", len(p.timeouts), lastErr)
}

// attempt sends a copy of m: signing consumes the TSIG stub of the message it packs,
// and a retry must be signed again.
func (p *Provider) attempt(ctx context.Context, network string, timeout time.Duration, m *dns.Msg) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: timeout}
	if p.ring != nil {
		c.TsigProvider = p.ring
	}
	reply, _, err := c.ExchangeContext(ctx, m.Copy(), p.server)
	return reply, err
}
