package dns

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// helperEnv, when set to a settings.yml path, turns the test binary into a small
// smart-proxy with only the dns feature: the durability test runs it as a separate
// process it can kill -9.
const helperEnv = "SPDNS_HELPER_SETTINGS"

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		os.Exit(runHelperProxy(path))
	}
	os.Exit(m.Run())
}

func runHelperProxy(path string) int {
	global, err := settings.LoadGlobal(path, func(string) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper proxy:", err)
		return 2
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, New())
	reg.Load()
	reg.Start(ctx)
	if state, err := reg.StateOf("dns"); state != registry.Running {
		fmt.Fprintf(os.Stderr, "helper proxy: dns is %s: %v\n", state, err)
		return 3
	}
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "helper proxy:", err)
		return 4
	}
	<-ctx.Done()
	_ = srv.Shutdown(context.Background())
	reg.Stop(context.Background())
	return 0
}
