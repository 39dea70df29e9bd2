// Command tftpload is the TFTP benchmark's concurrent load generator: many TFTP
// read transfers from one process, one goroutine each. With 200 curl processes the
// clients themselves take most of the two cores (each block wakes a process), so
// the aggregate measures curl as much as the server; tftpload's per-block cost is a
// fraction of that, which leaves the servers' own cost to show. It speaks RFC 1350
// with the blksize option (RFC 2348) and, when asked, windowsize (RFC 7440), and
// prints one summary line: bytes, seconds, MB/s, failed transfers.
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

type options struct {
	server     netip.AddrPort
	file       string
	clients    int
	blockSize  int
	windowSize int
	timeout    time.Duration
	wantSize   int64
	wantSHA256 string
}

func main() {
	var o options
	server := flag.String("server", "127.0.0.1:69", "TFTP server address:port")
	flag.StringVar(&o.file, "file", "", "file to read")
	flag.IntVar(&o.clients, "clients", 200, "concurrent transfers")
	flag.IntVar(&o.blockSize, "blksize", 1468, "blksize option")
	flag.IntVar(&o.windowSize, "windowsize", 0, "windowsize option (0: lockstep, no option)")
	flag.DurationVar(&o.timeout, "timeout", time.Second, "wait for a packet before resending")
	flag.Int64Var(&o.wantSize, "size", -1, "expected file size; a transfer of another size fails")
	flag.StringVar(&o.wantSHA256, "sha256", "", "expected sha256, checked on the first transfer")
	flag.Parse()
	var err error
	if o.server, err = netip.ParseAddrPort(*server); err != nil || o.file == "" {
		fmt.Fprintln(os.Stderr, "usage: tftpload -server ADDR:PORT -file NAME [-clients N] [-blksize B] [-windowsize W]")
		os.Exit(2)
	}

	var total atomic.Int64
	var failed atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for i := range o.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h hash.Hash
			if i == 0 && o.wantSHA256 != "" {
				h = sha256.New()
			}
			n, err := fetch(o, h)
			if err == nil && o.wantSize >= 0 && n != o.wantSize {
				err = fmt.Errorf("got %d bytes, want %d", n, o.wantSize)
			}
			if err == nil && h != nil && hex.EncodeToString(h.Sum(nil)) != o.wantSHA256 {
				err = errors.New("sha256 mismatch")
			}
			if err != nil {
				failed.Add(1)
				fmt.Fprintf(os.Stderr, "tftpload: client %d: %v\n", i, err)
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	fmt.Printf("bytes %d seconds %.3f MB/s %.1f failed %d\n", total.Load(), secs, float64(total.Load())/1e6/secs, failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

// fetch runs one read transfer and returns the bytes received; h, when set, sees them.
func fetch(o options, h hash.Hash) (int64, error) {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: o.server.Addr().AsSlice()})
	if err != nil {
		return 0, err
	}
	defer conn.Close()

	rrq := appendRRQ(nil, o)
	peer := o.server // the server answers from a new port (its TID), learned below
	last := rrq      // what to resend on a timeout
	ack := make([]byte, 4)
	binary.BigEndian.PutUint16(ack, opACK)
	buf := make([]byte, o.blockSize+4)
	window := 1 // until the server's OACK grants a windowsize
	sinceAck := 0
	var received int64
	var next uint16 = 1 // the DATA block expected (wraps after 65535 like the servers')
	timeouts := 0

	sendAck := func(block uint16) error {
		binary.BigEndian.PutUint16(ack[2:], block)
		last = ack
		_, err := conn.WriteToUDPAddrPort(ack, peer)
		return err
	}
	if _, err := conn.WriteToUDPAddrPort(rrq, peer); err != nil {
		return 0, err
	}
	var deadline time.Time
	for {
		// Moving a deadline costs a timer update; move it only when half is used.
		if now := time.Now(); deadline.Sub(now) < o.timeout/2 {
			deadline = now.Add(o.timeout)
			_ = conn.SetReadDeadline(deadline)
		}
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if timeouts++; timeouts > 5 {
				return received, errors.New("timed out")
			}
			deadline = time.Time{}
			if _, err := conn.WriteToUDPAddrPort(last, peer); err != nil {
				return received, err
			}
			continue
		}
		if err != nil {
			return received, err
		}
		if n < 4 {
			continue
		}
		if peer == o.server {
			peer = from
		} else if from != peer { // a second transfer started by a resent RRQ: end it (RFC 1350 §4)
			_, _ = conn.WriteToUDPAddrPort(unknownTID, from)
			continue
		}
		timeouts = 0
		switch binary.BigEndian.Uint16(buf) {
		case opOACK:
			window = grantedWindow(buf[2:n])
			if err := sendAck(0); err != nil {
				return received, err
			}
		case opDATA:
			block := binary.BigEndian.Uint16(buf[2:])
			if block != next { // lost or reordered: ask again from the last block held
				sinceAck = 0
				if err := sendAck(next - 1); err != nil {
					return received, err
				}
				continue
			}
			data := buf[4:n]
			received += int64(len(data))
			if h != nil {
				h.Write(data)
			}
			done := len(data) < o.blockSize
			if sinceAck++; done || sinceAck == window {
				sinceAck = 0
				if err := sendAck(block); err != nil {
					return received, err
				}
			}
			if done {
				return received, nil
			}
			next++
		case opERROR:
			return received, fmt.Errorf("server error %d: %s", binary.BigEndian.Uint16(buf[2:]), buf[4:n])
		}
	}
}

// unknownTID is ERROR 5, "Unknown transfer ID".
var unknownTID = []byte("\x00\x05\x00\x05Unknown transfer ID\x00")

func appendRRQ(b []byte, o options) []byte {
	b = binary.BigEndian.AppendUint16(b, opRRQ)
	b = append(append(b, o.file...), 0)
	b = append(b, "octet\x00blksize\x00"...)
	b = append(strconv.AppendInt(b, int64(o.blockSize), 10), 0)
	if o.windowSize > 0 {
		b = append(b, "windowsize\x00"...)
		b = append(strconv.AppendInt(b, int64(o.windowSize), 10), 0)
	}
	return b
}

// grantedWindow reads the windowsize an OACK grants; 1 when it grants none.
func grantedWindow(opts []byte) int {
	fields := bytes.Split(bytes.TrimSuffix(opts, []byte{0}), []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		if strings.EqualFold(string(fields[i]), "windowsize") {
			if w, err := strconv.Atoi(string(fields[i+1])); err == nil && w > 0 {
				return w
			}
		}
	}
	return 1
}
