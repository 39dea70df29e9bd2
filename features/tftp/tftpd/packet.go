package tftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   uint16 = 1
	opWRQ   uint16 = 2
	opDATA  uint16 = 3
	opACK   uint16 = 4
	opERROR uint16 = 5
	opOACK  uint16 = 6
)

// Error codes (RFC 1350, RFC 2347).
const (
	CodeUndefined       uint16 = 0
	CodeNotFound        uint16 = 1
	CodeAccessViolation uint16 = 2
	CodeIllegal         uint16 = 4
	CodeUnknownTID      uint16 = 5
	CodeBadOption       uint16 = 8
)

// Option is one RFC 2347 name/value pair; names are lower-cased.
type Option struct {
	Name, Value string
}

// Request is a parsed read (or write) request.
type Request struct {
	Write    bool
	Filename string
	Mode     string // lower-cased: "octet" or "netascii"
	Options  []Option
}

// Option returns the value of the named option and whether the client sent it.
func (r *Request) Option(name string) (string, bool) {
	for _, o := range r.Options {
		if o.Name == name {
			return o.Value, true
		}
	}
	return "", false
}

var errIllegal = errors.New("illegal TFTP operation")

// ParseRequest decodes an RRQ or WRQ: opcode, filename, mode, then option pairs, each
// NUL-terminated. Anything else, an unterminated field or an unknown mode is an error
// wrapping errIllegal. The first of duplicated options wins; an option without a
// value is dropped.
func ParseRequest(b []byte) (*Request, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d-byte packet", errIllegal, len(b))
	}
	op := binary.BigEndian.Uint16(b)
	if op != opRRQ && op != opWRQ {
		return nil, fmt.Errorf("%w: opcode %d is not a request", errIllegal, op)
	}
	body := b[2:]
	if len(body) == 0 || body[len(body)-1] != 0 {
		return nil, fmt.Errorf("%w: request not NUL-terminated", errIllegal)
	}
	fields := bytes.Split(body[:len(body)-1], []byte{0})
	if len(fields) < 2 || len(fields[0]) == 0 {
		return nil, fmt.Errorf("%w: request without filename or mode", errIllegal)
	}
	req := &Request{Write: op == opWRQ, Filename: string(fields[0]), Mode: strings.ToLower(string(fields[1]))}
	if req.Mode != "octet" && req.Mode != "netascii" {
		return nil, fmt.Errorf("%w: transfer mode %q", errIllegal, fields[1])
	}
	for i := 2; i+1 < len(fields); i += 2 {
		name := strings.ToLower(string(fields[i]))
		if name == "" {
			continue
		}
		if _, dup := req.Option(name); !dup {
			req.Options = append(req.Options, Option{Name: name, Value: string(fields[i+1])})
		}
	}
	return req, nil
}

// appendError appends an ERROR packet.
func appendError(b []byte, code uint16, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, opERROR)
	b = binary.BigEndian.AppendUint16(b, code)
	b = append(b, strings.ReplaceAll(msg, "\x00", "")...)
	return append(b, 0)
}

// appendOACK appends an OACK packet acknowledging opts.
func appendOACK(b []byte, opts []Option) []byte {
	b = binary.BigEndian.AppendUint16(b, opOACK)
	for _, o := range opts {
		b = append(b, o.Name...)
		b = append(b, 0)
		b = append(b, o.Value...)
		b = append(b, 0)
	}
	return b
}

// putDataHeader writes the 4-byte DATA header for block (the wire number wraps at 65536).
func putDataHeader(b []byte, block uint16) {
	binary.BigEndian.PutUint16(b, opDATA)
	binary.BigEndian.PutUint16(b[2:], block)
}

// reply is a packet a client sends during a transfer.
type reply struct {
	ack     bool
	block   uint16
	errCode uint16
	errMsg  string
}

// parseReply recognises ACK and ERROR; ok is false for anything else.
func parseReply(b []byte) (reply, bool) {
	if len(b) < 4 {
		return reply{}, false
	}
	switch binary.BigEndian.Uint16(b) {
	case opACK:
		return reply{ack: true, block: binary.BigEndian.Uint16(b[2:])}, true
	case opERROR:
		msg := b[4:]
		if i := bytes.IndexByte(msg, 0); i >= 0 {
			msg = msg[:i]
		}
		return reply{errCode: binary.BigEndian.Uint16(b[2:]), errMsg: string(msg)}, true
	}
	return reply{}, false
}
