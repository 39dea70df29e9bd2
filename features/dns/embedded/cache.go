package embedded

import (
	"encoding/binary"
	"sync"
)

// The answer cache is what lets a Go server keep up with BIND: a repeated plain query
// is answered by copying the reply packed the first time, patching the message id and
// the RD and CD bits, with no parsing or packing. The cache is keyed by the exact
// question bytes (so a differently-cased name is another entry and the copy is
// byte-identical to what the full path would build) plus whether the query had EDNS,
// and it is dropped whole on every change to the records.

// maxCachedAnswers bounds the cache; past it, answers are built each time.
const maxCachedAnswers = 200_000

type answerCache struct {
	mu      sync.RWMutex
	answers map[string][]byte
}

func newAnswerCache() *answerCache {
	return &answerCache{answers: make(map[string][]byte)}
}

func (c *answerCache) get(key []byte) []byte {
	c.mu.RLock()
	v := c.answers[string(key)]
	c.mu.RUnlock()
	return v
}

// put stores reply with id, RD and CD cleared: they are the request's, patched in on use.
func (c *answerCache) put(key, reply []byte) {
	if len(reply) < 12 {
		return
	}
	stored := append([]byte(nil), reply...)
	stored[0], stored[1] = 0, 0
	stored[2] &^= flagRD
	stored[3] &^= flagCD
	c.mu.Lock()
	if len(c.answers) < maxCachedAnswers {
		c.answers[string(key)] = stored
	}
	c.mu.Unlock()
}

const (
	flagRD = 0x01 // in header byte 2
	flagCD = 0x10 // in header byte 3
)

// patch makes a cached reply answer req: its id, RD and CD.
func patch(out, req []byte) {
	out[0], out[1] = req[0], req[1]
	out[2] |= req[2] & flagRD
	out[3] |= req[3] & flagCD
}

// quickKey recognises a plain query the cache can answer: opcode QUERY, no flags but
// RD, AD and CD, one question with an uncompressed name, and nothing else but an
// optional EDNS version 0 OPT record without options. It appends the key to buf and
// returns the UDP size limit the query allows.
func quickKey(raw, buf []byte) (key []byte, limit int, ok bool) {
	if len(raw) < 17 || raw[2]&^flagRD != 0 || raw[3]&0xCF != 0 {
		return nil, 0, false // QR, opcode, AA, TC; RA, Z, rcode
	}
	counts := raw[4:12]
	if binary.BigEndian.Uint16(counts[0:]) != 1 || binary.BigEndian.Uint16(counts[2:]) != 0 ||
		binary.BigEndian.Uint16(counts[4:]) != 0 || binary.BigEndian.Uint16(counts[6:]) > 1 {
		return nil, 0, false
	}
	off := 12
	for nameLen := 0; ; {
		if off >= len(raw) {
			return nil, 0, false
		}
		l := int(raw[off])
		if l == 0 {
			off++
			break
		}
		if l > 63 { // a compression pointer or a reserved label type
			return nil, 0, false
		}
		nameLen += l + 1
		if nameLen > 254 {
			return nil, 0, false
		}
		off += l + 1
	}
	off += 4 // QTYPE, QCLASS
	if off > len(raw) {
		return nil, 0, false
	}
	question := raw[12:off]
	edns := byte(0)
	limit = udpLimit(false, 0)
	if binary.BigEndian.Uint16(counts[6:]) == 1 {
		// OPT: root name, type 41, class = payload size, TTL = ext-rcode, version, flags; no rdata.
		opt := raw[off:]
		if len(opt) != 11 || opt[0] != 0 || binary.BigEndian.Uint16(opt[1:]) != 41 ||
			opt[5] != 0 || opt[6] != 0 || binary.BigEndian.Uint16(opt[9:]) != 0 {
			return nil, 0, false
		}
		edns = 1
		limit = udpLimit(true, binary.BigEndian.Uint16(opt[3:]))
		off += 11
	}
	if off != len(raw) {
		return nil, 0, false
	}
	key = append(append(buf, question...), edns)
	return key, limit, true
}
