package settings

import (
	"strings"
	"testing"
)

// A module inherits settings.yml's shared-state keys it leaves out: its own value
// wins, an inherited relative path resolves against settings.yml's folder, an
// inherited bad value fails the module naming settings.yml, and the module's own
// key list (what the registry compares and warns about) is unchanged.
func TestInheritStateKeys(t *testing.T) {
	global, err := Parse("/etc/foreman-proxy/settings.yml", []byte(
		":state_backend: etcd\n:etcd_ca: ca.pem\n:etcd_timeout: soon\n:etcd_prefix: /g/\n:log_level: INFO\n"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := Parse("/etc/foreman-proxy/settings.d/tftp.yml", []byte(":etcd_prefix: /own/\n:log_level: DEBUG\n"))
	if err != nil {
		t.Fatal(err)
	}
	mod.Inherit(global, StateKeys)

	if got := mod.String("state_backend", "journal"); got != "etcd" {
		t.Errorf("state_backend = %q, want the inherited etcd", got)
	}
	if got := mod.String("etcd_prefix", ""); got != "/own/" {
		t.Errorf("etcd_prefix = %q, want the module's own", got)
	}
	if got := mod.String("log_level", ""); got != "DEBUG" {
		t.Errorf("log_level = %q: only the state keys are inherited", got)
	}
	if got := mod.Path("etcd_ca", ""); got != "/etc/foreman-proxy/ca.pem" {
		t.Errorf("etcd_ca = %q, want it next to settings.yml", got)
	}
	if got := mod.String("etcd_endpoints", "none"); got != "none" {
		t.Errorf("a key neither file has = %q, want the default", got)
	}
	mod.Int("etcd_timeout", 3)
	if err := mod.Err(); err == nil || !strings.Contains(err.Error(),
		"/etc/foreman-proxy/settings.yml (inherited by /etc/foreman-proxy/settings.d/tftp.yml): :etcd_timeout: must be an integer") {
		t.Errorf("inherited bad value: %v", err)
	}
	if mod.Has("state_backend") || len(mod.Unread()) != 0 || strings.Join(mod.Keys(), ",") != "etcd_prefix,log_level" {
		t.Errorf("the module's own keys changed: has %v, unread %v, keys %v", mod.Has("state_backend"), mod.Unread(), mod.Keys())
	}
	if mod.Source("state_backend") != global.File || mod.Source("etcd_prefix") != mod.File || mod.Source("etcd_key") != "" {
		t.Errorf("sources: %q %q %q", mod.Source("state_backend"), mod.Source("etcd_prefix"), mod.Source("etcd_key"))
	}
}
