package embedded_test

import (
	"os"
	"testing"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// proxyEnv names the settings.yml a re-executed test binary serves instead of
// running tests: the real registry and server with the dhcp feature, in a process
// the durability test can kill -9.
const proxyEnv = "SPDHCP_PROXY_SETTINGS"

func TestMain(m *testing.M) {
	if path := os.Getenv(proxyEnv); path != "" {
		os.Exit(proxytest.RunProcess(path, dhcp.New()))
	}
	os.Exit(m.Run())
}
