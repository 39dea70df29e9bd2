package embedded_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/dhcp"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// proxyEnv names the settings.yml a re-executed test binary serves instead of
// running tests: the real registry and server with the dhcp feature, in a process
// the durability test can kill -9.
const proxyEnv = "SPDHCP_PROXY_SETTINGS"

func TestMain(m *testing.M) {
	if path := os.Getenv(proxyEnv); path != "" {
		os.Exit(runProxy(path))
	}
	os.Exit(m.Run())
}

func runProxy(path string) int {
	global, err := settings.LoadGlobal(path, func(string) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := logrus.New()
	log.SetLevel(logrus.WarnLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, dhcp.New())
	reg.Load()
	reg.Start(ctx)
	if state, err := reg.StateOf("dhcp"); state != registry.Running {
		fmt.Fprintf(os.Stderr, "dhcp is %s: %v\n", state, err)
		return 1
	}
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	select {
	case <-ctx.Done():
	case err := <-srv.Errors():
		fmt.Fprintln(os.Stderr, err)
	}
	_ = srv.Shutdown(context.Background())
	reg.Stop(context.Background())
	return 0
}
