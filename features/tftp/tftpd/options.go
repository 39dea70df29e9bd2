package tftpd

import (
	"strconv"
	"time"
)

// Limits of the negotiable options.
const (
	defaultBlockSize = 512
	minBlockSize     = 8     // RFC 2348
	maxBlockSize     = 65464 // RFC 2348: largest UDP payload on IPv4 minus headers
	maxTimeoutOption = 255   // RFC 2349, seconds
	// maxWindowBytes caps windowsize × blksize so one transfer never buffers more than
	// this; the OACK then carries the smaller windowsize (RFC 7440 allows it).
	maxWindowBytes = 1 << 20
)

// params is what a transfer runs with after negotiation.
type params struct {
	blockSize  int
	windowSize int
	timeout    time.Duration
}

// negotiate answers the client's options (RFC 2347/2348/2349/7440) given the content
// size (-1 when unknown). It returns the options to put in the OACK, in the order the
// client sent them; an empty list means no OACK (plain RFC 1350 transfer). blksize is
// honoured as asked, up to 65464, without clamping to the interface MTU: the client
// knows its path, and IP fragmentation on a LAN is what it asked for.
func negotiate(req *Request, size int64, cfg *Config) ([]Option, params) {
	p := params{blockSize: defaultBlockSize, windowSize: 1, timeout: cfg.Timeout}
	var ack []Option
	for _, o := range req.Options {
		n, err := strconv.Atoi(o.Value)
		if err != nil && o.Name != "tsize" {
			continue // unparsable values are ignored, as unknown options are
		}
		switch o.Name {
		case "blksize":
			if n < minBlockSize {
				continue
			}
			p.blockSize = min(n, maxBlockSize)
			ack = append(ack, Option{o.Name, strconv.Itoa(p.blockSize)})
		case "tsize":
			if size < 0 || req.Write {
				continue
			}
			ack = append(ack, Option{o.Name, strconv.FormatInt(size, 10)})
		case "timeout":
			if n < 1 || n > maxTimeoutOption {
				continue
			}
			p.timeout = time.Duration(n) * time.Second
			ack = append(ack, Option{o.Name, o.Value})
		case "windowsize":
			if n < 1 || n > 65535 {
				continue
			}
			p.windowSize = min(n, cfg.MaxWindowSize)
			ack = append(ack, Option{o.Name, strconv.Itoa(p.windowSize)})
		}
	}
	// The window cap depends on the final blksize, whatever the option order was.
	if limit := max(1, maxWindowBytes/p.blockSize); p.windowSize > limit {
		p.windowSize = limit
		for i := range ack {
			if ack[i].Name == "windowsize" {
				ack[i].Value = strconv.Itoa(limit)
			}
		}
	}
	return ack, p
}
