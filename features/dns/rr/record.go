// Package rr is the record model the DNS feature and its providers share: the five
// record types Foreman manages, their canonical values, and the RFC 2136 update
// messages that create and delete them. It sits below features/dns and its provider
// packages so that neither has to import the other.
package rr

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// Type is a record type the API manages.
type Type string

const (
	A     Type = "A"
	AAAA  Type = "AAAA"
	CNAME Type = "CNAME"
	PTR   Type = "PTR"
	SRV   Type = "SRV"
)

// Types lists every managed type.
var Types = []Type{A, AAAA, CNAME, PTR, SRV}

// ParseType accepts a type name in any case.
func ParseType(s string) (Type, bool) {
	t := Type(strings.ToUpper(s))
	for _, known := range Types {
		if t == known {
			return t, true
		}
	}
	return t, false
}

// Code is the wire type code.
func (t Type) Code() uint16 { return dns.StringToType[string(t)] }

// TypeOf maps a wire type code back to a managed type.
func TypeOf(code uint16) (Type, bool) {
	return ParseType(dns.TypeToString[code])
}

// Record is one resource record. Name is absolute (trailing dot); Value is the
// canonical presentation of the data: an address for A/AAAA, an absolute name for
// CNAME/PTR, "priority weight port target." for SRV.
type Record struct {
	Name  string
	Type  Type
	Value string
	TTL   uint32
}

func (r Record) String() string {
	return fmt.Sprintf("%s %d IN %s %s", r.Name, r.TTL, r.Type, r.Value)
}

// RR converts the record to its wire form.
func (r Record) RR() (dns.RR, error) {
	hdr := dns.RR_Header{Name: dns.Fqdn(r.Name), Rrtype: r.Type.Code(), Class: dns.ClassINET, Ttl: r.TTL}
	switch r.Type {
	case A, AAAA:
		ip, err := netip.ParseAddr(r.Value)
		if err != nil || ip.Is4() != (r.Type == A) {
			return nil, fmt.Errorf("%s record %s: %q is not an %s address", r.Type, r.Name, r.Value, r.Type)
		}
		if r.Type == A {
			return &dns.A{Hdr: hdr, A: ip.AsSlice()}, nil
		}
		return &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()}, nil
	case CNAME:
		return &dns.CNAME{Hdr: hdr, Target: dns.Fqdn(r.Value)}, nil
	case PTR:
		return &dns.PTR{Hdr: hdr, Ptr: dns.Fqdn(r.Value)}, nil
	case SRV:
		f := strings.Fields(r.Value)
		if len(f) != 4 {
			return nil, fmt.Errorf("SRV record %s: %q does not have four fields", r.Name, r.Value)
		}
		var n [3]uint16
		for i := range n {
			v, err := strconv.ParseUint(f[i], 10, 16)
			if err != nil {
				return nil, fmt.Errorf("SRV record %s: field %q of %q: %w", r.Name, f[i], r.Value, err)
			}
			n[i] = uint16(v)
		}
		return &dns.SRV{Hdr: hdr, Priority: n[0], Weight: n[1], Port: n[2], Target: dns.Fqdn(f[3])}, nil
	}
	return nil, fmt.Errorf("record %s: unsupported type %q", r.Name, r.Type)
}

// FromRR converts a wire record of a managed type; ok is false for other types.
func FromRR(x dns.RR) (Record, bool) {
	h := x.Header()
	rec := Record{Name: h.Name, TTL: h.Ttl}
	switch v := x.(type) {
	case *dns.A:
		rec.Type, rec.Value = A, addrString(v.A)
	case *dns.AAAA:
		rec.Type, rec.Value = AAAA, addrString(v.AAAA)
	case *dns.CNAME:
		rec.Type, rec.Value = CNAME, v.Target
	case *dns.PTR:
		rec.Type, rec.Value = PTR, v.Ptr
	case *dns.SRV:
		rec.Type, rec.Value = SRV, fmt.Sprintf("%d %d %d %s", v.Priority, v.Weight, v.Port, v.Target)
	default:
		return Record{}, false
	}
	return rec, true
}

func addrString(b []byte) string {
	ip, ok := netip.AddrFromSlice(b)
	if !ok {
		return ""
	}
	return ip.Unmap().String()
}

// SameValue compares two values of type t as DNS does: addresses as addresses,
// names without regard to case or a trailing dot.
func SameValue(t Type, a, b string) bool {
	switch t {
	case A, AAAA:
		x, errX := netip.ParseAddr(a)
		y, errY := netip.ParseAddr(b)
		return errX == nil && errY == nil && x.Unmap() == y.Unmap()
	case SRV:
		fa, fb := strings.Fields(a), strings.Fields(b)
		if len(fa) != 4 || len(fb) != 4 {
			return false
		}
		return fa[0] == fb[0] && fa[1] == fb[1] && fa[2] == fb[2] && SameName(fa[3], fb[3])
	}
	return SameName(a, b)
}

// SameName compares domain names case-insensitively, ignoring a trailing dot.
func SameName(a, b string) bool {
	return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
}
