package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"net/netip"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/tftp/tftpd"
)

// The generator must fetch whole, correct files in lockstep and with windows, or the
// benchmark would time failures.
func TestFetchFromOurServer(t *testing.T) {
	content := make([]byte, 3_000_123)
	_, _ = rand.Read(content)
	log := logrus.New()
	log.SetOutput(bytes.NewBuffer(nil))
	s, err := tftpd.Listen(tftpd.Config{
		Addr: "127.0.0.1:0",
		Log:  logrus.NewEntry(log),
		Source: tftpd.SourceFunc(func(context.Context, netip.AddrPort, *tftpd.Request) (tftpd.Content, error) {
			return tftpd.BytesContent(content), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Serve(ctx)
	t.Cleanup(func() {
		cancel()
		_ = s.Shutdown(context.Background())
	})

	want := sha256.Sum256(content)
	for _, window := range []int{0, 16} {
		o := options{server: netip.MustParseAddrPort(s.Addr().String()), file: "f", blockSize: 1468, windowSize: window, timeout: time.Second}
		var h hash.Hash = sha256.New()
		n, err := fetch(o, h)
		if err != nil || n != int64(len(content)) || !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("windowsize %d: %d bytes, %v, sha256 match %v", window, n, err, bytes.Equal(h.Sum(nil), want[:]))
		}
	}
}

func TestGrantedWindow(t *testing.T) {
	for opts, want := range map[string]int{
		"blksize\x001468\x00windowsize\x0016\x00": 16,
		"blksize\x001468\x00":                     1,
		"WINDOWSIZE\x004\x00":                     4,
		"windowsize\x00x\x00":                     1,
	} {
		if got := grantedWindow([]byte(opts)); got != want {
			t.Errorf("grantedWindow(%q) = %d, want %d", opts, got, want)
		}
	}
}
