package tftpd

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/pin/tftp/v3"
)

// BenchmarkTransfer measures a 5 MB transfer over loopback with Go clients: the pin/tftp
// client in lockstep, and the test's RFC 7440 receiver with windows. The client shares
// the CPUs with the server, so this tracks regressions; bench/tftp.sh compares against
// tftpd-hpa with real clients.
func BenchmarkTransfer(b *testing.B) {
	content := make([]byte, 5_000_000)
	for i := range content {
		content[i] = byte(i * 7)
	}
	s := startServer(b, map[string][]byte{"f": content}, nil)
	for _, bs := range []int{512, 1468, 8192} {
		b.Run("lockstep/blksize="+strconv.Itoa(bs), func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				c, err := tftp.NewClient(s.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				c.SetBlockSize(bs)
				wt, err := c.Receive("f", "octet")
				if err != nil {
					b.Fatal(err)
				}
				if n, err := wt.WriteTo(io.Discard); err != nil || n != int64(len(content)) {
					b.Fatalf("%d bytes, %v", n, err)
				}
			}
		})
	}
	for _, window := range []int{4, 16, 64} {
		b.Run("window="+strconv.Itoa(window)+"/blksize=1468", func(b *testing.B) {
			b.SetBytes(int64(len(content)))
			for b.Loop() {
				c := dialRaw(b, s)
				got, _ := c.fetchWindowed("f", 1468, window, nil)
				if !bytes.Equal(got, content) {
					b.Fatal("content differs")
				}
				c.conn.Close()
			}
		})
	}
}
