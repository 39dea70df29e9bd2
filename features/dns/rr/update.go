package rr

import (
	"errors"
	"fmt"

	"github.com/miekg/dns"
)

// ConflictError says the name already holds data that the new record would clash
// with; the API answers 409.
type ConflictError struct {
	Name   string
	Reason string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s is already in use: %s", e.Name, e.Reason)
}

// UpdateError is a server's refusal of an update, with its rcode (and the TSIG error
// when the refusal is about the key), shown to the client as the Ruby proxy did.
type UpdateError struct {
	Rcode     int
	TSIGError uint16
}

func (e *UpdateError) Error() string {
	msg := "Update errors: status: " + rcodeName(e.Rcode)
	if e.TSIGError != 0 {
		msg += " (TSIG error " + rcodeName(int(e.TSIGError)) + ")"
	}
	return msg
}

func rcodeName(code int) string {
	if s, ok := dns.RcodeToString[code]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", code)
}

// AddMessage builds the RFC 2136 update adding rec to zone. Apart from SRV (several
// per name are normal), the update only applies while the name has no record of that
// type and no CNAME (a CNAME only while the name is unused): the server then refuses a
// racing second create instead of silently keeping both or ignoring ours.
func AddMessage(zone string, rec Record) (*dns.Msg, error) {
	x, err := rec.RR()
	if err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	name := x.Header().Name
	switch rec.Type {
	case SRV:
	case CNAME:
		m.NameNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name}}})
	default:
		m.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: rec.Type.Code()}}})
		m.RRsetNotUsed([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME}}})
	}
	m.Insert([]dns.RR{x})
	return m, nil
}

// DeleteMessage builds the RFC 2136 update deleting every record of type t at name.
func DeleteMessage(zone, name string, t Type) *dns.Msg {
	m := new(dns.Msg)
	m.SetUpdate(dns.Fqdn(zone))
	m.RemoveRRset([]dns.RR{&dns.ANY{Hdr: dns.RR_Header{Name: dns.Fqdn(name), Rrtype: t.Code()}}})
	return m
}

// CheckReply turns an update reply into an error: nil for NOERROR, a ConflictError
// when a prerequisite of AddMessage failed, an UpdateError otherwise.
func CheckReply(name string, reply *dns.Msg) error {
	if reply == nil {
		return errors.New("Update errors: no reply")
	}
	switch reply.Rcode {
	case dns.RcodeSuccess:
		return nil
	case dns.RcodeYXDomain, dns.RcodeYXRrset:
		return &ConflictError{Name: name, Reason: "the server refused the update: " + rcodeName(reply.Rcode)}
	}
	e := &UpdateError{Rcode: reply.Rcode}
	if t := reply.IsTsig(); t != nil {
		e.TSIGError = t.Error
	}
	return e
}
