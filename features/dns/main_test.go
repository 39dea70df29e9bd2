package dns

import (
	"os"
	"testing"

	"github.com/smartproxy/smartproxy/internal/proxytest"
)

// helperEnv, when set to a settings.yml path, turns the test binary into a small
// smart-proxy with only the dns feature: the durability test runs it as a separate
// process it can kill -9.
const helperEnv = "SPDNS_HELPER_SETTINGS"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(proxytest.RunProcess(path, New()))
	}
	os.Exit(m.Run())
}
