package tftp

import (
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

func configure(t *testing.T, sec *settings.Section) (*Feature, error) {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	f := New()
	err := f.Configure(&registry.Env{Global: &settings.Global{HTTPSPort: 8443}, Settings: sec, Log: logrus.NewEntry(log)})
	if err == nil {
		err = sec.Err()
	}
	return f, err
}

// The shipped example is valid and means what its comments say.
func TestShippedExample(t *testing.T) {
	sec, err := settings.Load("../../settings.d/tftp.yml")
	if err != nil || !sec.Found {
		t.Fatalf("load: %v (found %v)", err, sec != nil && sec.Found)
	}
	f, err := configure(t, sec)
	if err != nil {
		t.Fatal(err)
	}
	wantRoot, _ := filepath.Abs("../../var/tftpboot")
	wantImages, _ := filepath.Abs("../../var/system_images")
	if f.cfg.root != wantRoot || f.cfg.imageRoot != wantImages || f.cfg.server.Addr != "127.0.0.1:6969" {
		t.Fatalf("root %q system_image_root %q listen %q", f.cfg.root, f.cfg.imageRoot, f.cfg.server.Addr)
	}
	if f.cfg.connectTimeout != 10*time.Second || !f.cfg.verifyCert || f.cfg.server.MaxTransfers != 1000 ||
		f.cfg.server.Timeout != time.Second || f.cfg.server.Retries != 5 || f.cfg.server.MaxWindowSize != 64 {
		t.Fatalf("defaults: %+v", f.cfg)
	}
	sec.Enabled(settings.EnabledNone) // the registry's key
	if unknown := sec.Unread(); len(unknown) != 0 {
		t.Fatalf("keys the feature does not read: %v", unknown)
	}
}

func TestSettings(t *testing.T) {
	f, err := configure(t, settings.NewSection("/etc/foreman-proxy/settings.d/tftp.yml", map[string]any{
		"tftproot": "/srv/tftp", "tftp_servername": "tftp.example.com", "tftp_connect_timeout": 3,
		"verify_server_cert": false, "listen": false, "max_windowsize": 8,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if f.cfg.root != "/srv/tftp" || f.cfg.serverName != "tftp.example.com" || f.cfg.connectTimeout != 3*time.Second ||
		f.cfg.verifyCert || f.cfg.server.Addr != "" || f.cfg.server.MaxWindowSize != 8 {
		t.Fatalf("%+v", f.cfg)
	}
	if got := f.ExposedSettings()["tftp_servername"]; got != "tftp.example.com" {
		t.Fatalf("exposed %v", got)
	}
	// Relative roots resolve against the settings folder.
	f, err = configure(t, settings.NewSection("/etc/foreman-proxy/settings.d/tftp.yml", map[string]any{"tftproot": "tftpboot"}))
	if err != nil || f.cfg.root != "/etc/foreman-proxy/settings.d/tftpboot" {
		t.Fatalf("relative root %q, %v", f.cfg.root, err)
	}
	for key, bad := range map[string]any{
		"listen": "nonsense", "verify_server_cert": "yes", "max_windowsize": 70000, "tftp_connect_timeout": "soon",
	} {
		_, err := configure(t, settings.NewSection("tftp.yml", map[string]any{key: bad}))
		if err == nil || !strings.Contains(err.Error(), ":"+key+":") {
			t.Errorf("%s: %v accepted (%v)", key, bad, err)
		}
	}
}
