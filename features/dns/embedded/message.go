package embedded

import (
	"time"

	"github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/tsigkey"
)

// advertisedUDPSize is the EDNS payload size we offer and the most we send over UDP,
// the value BIND and the DNS flag day 2020 settled on.
const advertisedUDPSize = 1232

// udpLimit is the largest UDP reply a client accepts: 512 without EDNS (RFC 1035),
// else its advertised size within [512, advertisedUDPSize].
func udpLimit(hasEDNS bool, size uint16) int {
	if !hasEDNS {
		return dns.MinMsgSize
	}
	return min(max(int(size), dns.MinMsgSize), advertisedUDPSize)
}

// respond is the full message path: it answers raw (a query or an update) and says
// whether the reply may be cached for identical queries. nil means send nothing.
func (h *Handler) respond(raw []byte, tcp bool) (reply []byte, cacheable bool) {
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		return formatError(raw), false
	}
	if req.Response {
		return nil, false
	}
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Compress = true
	opt := req.IsEdns0()
	limit := dns.MaxMsgSize
	if !tcp {
		limit = udpLimit(opt != nil, optSize(opt))
	}
	tsig := req.IsTsig()
	var tsigErr error
	if tsig != nil {
		tsigErr = h.verify(raw)
	}
	switch {
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
	case opt != nil && opt.Version() != 0:
		resp.Rcode = dns.RcodeBadVers
	case tsig != nil && tsigErr != nil:
		resp.Rcode = dns.RcodeNotAuth
		if e := tsigError(req, tsig, tsigErr); e != nil {
			resp.Extra = append(resp.Extra, e)
		}
		h.stats.refused.Add(1)
	case req.Opcode == dns.OpcodeQuery:
		h.stats.queries.Add(1)
		h.store.answer(req.Question[0], resp)
	case req.Opcode == dns.OpcodeUpdate:
		h.update(req, tsig != nil, resp)
	default:
		resp.Rcode = dns.RcodeNotImplemented
	}
	if opt != nil {
		resp.SetEdns0(advertisedUDPSize, false)
		if n := len(resp.Extra); n > 1 && resp.Extra[n-2].Header().Rrtype == dns.TypeTSIG { // keep the TSIG error record last
			resp.Extra[n-2], resp.Extra[n-1] = resp.Extra[n-1], resp.Extra[n-2]
		}
	}
	if tsig != nil && tsigErr == nil {
		// A signed request gets a signed reply (RFC 8945 §5.3), never truncated.
		resp.SetTsig(tsig.Hdr.Name, tsig.Algorithm, tsig.Fudge, time.Now().Unix())
		wire, _, err := dns.TsigGenerateWithProvider(resp, h.keys, tsig.MAC, false)
		if err != nil {
			h.log.Errorf("dns_embedded: signing reply: %v", err)
			return nil, false
		}
		return wire, false
	}
	wire, err := resp.Pack()
	if err != nil {
		h.log.Errorf("dns_embedded: packing reply to %v: %v", req.Question, err)
		return nil, false
	}
	if len(wire) <= limit {
		return wire, req.Opcode == dns.OpcodeQuery && tsig == nil
	}
	resp.Truncate(limit)
	if wire, err = resp.Pack(); err != nil {
		h.log.Errorf("dns_embedded: packing truncated reply to %v: %v", req.Question, err)
		return nil, false
	}
	return wire, false
}

func optSize(opt *dns.OPT) uint16 {
	if opt == nil {
		return 0
	}
	return opt.UDPSize()
}

// verify checks a request's TSIG. The check rewrites the buffer it reads, so it gets a copy.
func (h *Handler) verify(raw []byte) error {
	if len(h.keys) == 0 {
		return dns.ErrSecret
	}
	return dns.TsigVerifyWithProvider(append([]byte(nil), raw...), h.keys, "", false)
}

// tsigError is the unsigned TSIG record telling the client why its signature failed;
// nil when the request's TSIG is too broken to echo.
func tsigError(req *dns.Msg, t *dns.TSIG, err error) *dns.TSIG {
	if _, ok := dns.IsDomainName(t.Algorithm); !ok || t.Algorithm == "" || t.Algorithm == "." {
		return nil
	}
	return &dns.TSIG{
		Hdr:        dns.RR_Header{Name: t.Hdr.Name, Rrtype: dns.TypeTSIG, Class: dns.ClassANY},
		Algorithm:  t.Algorithm,
		TimeSigned: t.TimeSigned,
		Fudge:      t.Fudge,
		OrigId:     req.Id,
		Error:      tsigkey.ErrorCode(err),
	}
}

// update runs an RFC 2136 update: only when signed with one of our keys (the caller
// has verified the signature), else REFUSED.
func (h *Handler) update(req *dns.Msg, signed bool, resp *dns.Msg) {
	q := req.Question[0]
	switch {
	case !signed:
		h.stats.refused.Add(1)
		resp.Rcode = dns.RcodeRefused
	case q.Qtype != dns.TypeSOA || q.Qclass != dns.ClassINET:
		resp.Rcode = dns.RcodeFormatError
	default:
		h.stats.updates.Add(1)
		resp.Rcode = h.store.Update(q.Name, req.Answer, req.Ns)
		h.log.Infof("dns_embedded: update of zone %s signed by %s: %s", q.Name, req.IsTsig().Hdr.Name, dns.RcodeToString[resp.Rcode])
	}
}

// formatError answers a request we cannot parse, when at least its header is a
// request's: the header alone, rcode FORMERR. Anything else gets no reply.
func formatError(raw []byte) []byte {
	if len(raw) < 12 || raw[2]&0x80 != 0 {
		return nil
	}
	out := make([]byte, 12)
	out[0], out[1] = raw[0], raw[1]
	out[2] = 0x80 | raw[2]&0x78 // QR, and the request's opcode
	out[3] = dns.RcodeFormatError
	return out
}
