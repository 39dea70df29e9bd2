package proxytest

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// RunProcess serves feature with the settings.yml at path until SIGTERM or SIGINT and
// returns an exit code. A test binary calls it from TestMain when re-executed as a
// child proxy, so durability tests can kill -9 a real proxy process. It fails (exit 1)
// unless the feature reaches running; warnings and errors go to stderr.
func RunProcess(path string, feature registry.Feature) int {
	global, err := settings.LoadGlobal(path, func(string) {})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child proxy:", err)
		return 2
	}
	log := logrus.New()
	log.SetOutput(os.Stderr)
	log.SetLevel(logrus.WarnLevel)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	reg := registry.New(registry.Options{Global: global, Log: log, Version: "3.11.0"}, feature)
	reg.Load()
	reg.Start(ctx)
	defer reg.Stop(context.Background())
	if state, err := reg.StateOf(feature.Name()); state != registry.Running {
		fmt.Fprintf(os.Stderr, "child proxy: %s is %s: %v\n", feature.Name(), state, err)
		return 1
	}
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: "3.11.0"})
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "child proxy:", err)
		return 1
	}
	select {
	case <-ctx.Done():
	case err := <-srv.Errors():
		fmt.Fprintln(os.Stderr, "child proxy:", err)
	}
	_ = srv.Shutdown(context.Background())
	return 0
}
