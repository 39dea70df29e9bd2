package tftpd

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzParseRequest: any bytes from the network parse without panicking, and whatever
// parses negotiates into parameters the sender can run with.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range [][]byte{
		[]byte("\x00\x01pxelinux.0\x00octet\x00"),
		[]byte("\x00\x01f\x00NETASCII\x00tsize\x000\x00blksize\x001468\x00"),
		[]byte("\x00\x01f\x00octet\x00windowsize\x0016\x00blksize\x0065464\x00timeout\x00255\x00"),
		[]byte("\x00\x01f\x00octet\x00blksize\x00-1\x00windowsize\x0099999999999999999999\x00"),
		[]byte("\x00\x02upload\x00octet\x00"),
		[]byte("\x00\x01../../etc/passwd\x00octet\x00odd\x00"),
		[]byte("\x00\x01\x00\x00"),
		[]byte("\x00\x05\x00\x01oops\x00"),
		{0, 1},
		{},
	} {
		f.Add(seed)
	}
	cfg := &Config{Timeout: time.Second, MaxWindowSize: 64}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		req, err := ParseRequest(pkt)
		if err != nil {
			return
		}
		if req.Filename == "" || strings.ContainsRune(req.Filename, 0) {
			t.Fatalf("bad filename %q", req.Filename)
		}
		if req.Mode != "octet" && req.Mode != "netascii" {
			t.Fatalf("bad mode %q", req.Mode)
		}
		for _, o := range req.Options {
			if o.Name != strings.ToLower(o.Name) || o.Name == "" {
				t.Fatalf("option name %q", o.Name)
			}
		}
		for _, size := range []int64{-1, 0, 1 << 40} {
			oack, p := negotiate(req, size, cfg)
			if p.blockSize < minBlockSize || p.blockSize > maxBlockSize || p.windowSize < 1 ||
				p.windowSize > cfg.MaxWindowSize || p.windowSize*p.blockSize > max(maxWindowBytes, p.blockSize) || p.timeout <= 0 {
				t.Fatalf("negotiated %+v from %q", p, pkt)
			}
			if len(appendOACK(nil, oack)) > 2 && !bytes.HasPrefix(appendOACK(nil, oack), []byte{0, byte(opOACK)}) {
				t.Fatal("OACK encoding")
			}
		}
	})
}
