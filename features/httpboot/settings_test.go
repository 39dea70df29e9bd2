package httpboot

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// The shipped example is valid and serves the TFTP feature's example root.
func TestShippedExample(t *testing.T) {
	sec, err := settings.Load("../../settings.d/httpboot.yml")
	if err != nil || !sec.Found {
		t.Fatalf("load: %v", err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	f := New()
	if err := f.Configure(&registry.Env{Global: &settings.Global{HTTPPort: 8000, HTTPSPort: 8443}, Settings: sec, Log: logrus.NewEntry(log)}); err != nil || sec.Err() != nil {
		t.Fatal(err, sec.Err())
	}
	want, _ := filepath.Abs("../../var/tftpboot")
	if f.root != want {
		t.Fatalf("root %q, want %q", f.root, want)
	}
	if got := f.ExposedSettings(); got["http_port"] != 8000 || got["https_port"] != 8443 {
		t.Fatalf("exposed %v", got)
	}
	if unknown := sec.Unread(); len(unknown) != 0 {
		t.Fatalf("keys the feature does not read: %v", unknown)
	}
}
