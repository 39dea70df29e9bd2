package tftpd

import (
	"net/netip"
	"time"
)

// link is a transfer's socket: its own port (the server's TID), connected to the
// client so the kernel drops packets from anyone else.
type link interface {
	// write sends one packet.
	write(pkt []byte) error
	// writeBlocks sends DATA packets, each a 4-byte header and its data.
	writeBlocks(blocks []dataBlock) error
	// read returns the client's next packet, or os.ErrDeadlineExceeded at deadline.
	read(b []byte, deadline time.Time) (int, error)
	// interrupt makes a pending and every later read fail (shutdown); safe to call
	// from another goroutine, also after close.
	interrupt()
	close()
}

// dataBlock is one DATA packet: header and payload, sent without copying them together.
type dataBlock struct {
	hdr, data []byte
}

// dialLink opens the transfer's socket. direct picks the blocking socket that
// answers fastest (see directLink); otherwise the Go netpoller serves it.
func dialLink(local netip.Addr, remote netip.AddrPort, direct bool) (link, error) {
	if direct {
		return dialDirect(local, remote)
	}
	return dialPoller(local, remote)
}
