// Command smart-proxy is the Foreman Smart Proxy: it loads settings.yml and
// settings.d/*.yml, starts the enabled features and serves their REST APIs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/puppetca"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/server"
	"github.com/smartproxy/smartproxy/settings"
)

// Version is what /version reports; Foreman compares it with its own.
const Version = "3.11.0"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-config" {
		return checkConfig(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "import-isc-dhcp" {
		return importISCDHCP(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "register" {
		return registerCommand(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ca" {
		return caCommand(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "puppetca-validate" {
		return puppetca.RunValidate(args[1:], os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("smart-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("settings", "/etc/foreman-proxy/settings.yml", "path of settings.yml")
	showVersion := fs.Bool("version", false, "print the version and exit")
	// The foreman-proxy unit of the Foreman packages starts the Ruby proxy with
	// --no-daemonize; we always stay in the foreground, so it changes nothing.
	fs.Bool("no-daemonize", true, "stay in the foreground (always so; accepted for foreman-proxy.service)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: smart-proxy [--settings PATH]                 run the proxy
       smart-proxy check-config [--settings PATH]    check the settings, start nothing
       smart-proxy import-isc-dhcp [flags] FILE...   create ISC dhcpd's reservations through a proxy
       smart-proxy puppetca-validate CERTNAME < CSR  Puppet Server's policy-based autosign check
       smart-proxy register --foreman-url URL --oauth-consumer-key K --oauth-consumer-secret S [flags]
                                                     register this proxy with Foreman, as the installer does
       smart-proxy ca init|issue NAME --san ...|revoke NAME|crl|list [--dir DIR]
                                                     the zones' CA: certificates for the core, relays and proxies
flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, Version)
		return 0
	}
	if err := serve(*path, stderr); err != nil {
		fmt.Fprintln(stderr, "smart-proxy:", err)
		return 1
	}
	return 0
}

// serve runs the proxy until SIGTERM or SIGINT, then stops gracefully: listeners stop
// accepting, in-flight requests finish, embedded servers stop.
func serve(path string, stderr io.Writer) error {
	var warnings []string
	global, err := settings.LoadGlobal(path, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		return err
	}
	log, buffer, logOut, err := logging.New(global.LogFile, global.LogLevel, global.LogBuffer, global.LogBufferErrors)
	if err != nil {
		return err
	}
	defer logOut.Close()
	stopReopening := reopenLogOnSIGUSR1(log, logOut)
	defer stopReopening()
	for _, w := range warnings {
		log.Warn(w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	reg := registry.New(registry.Options{Global: global, Log: log, Failures: buffer, Version: Version}, features(buffer)...)
	reg.Load()
	reg.Start(ctx)
	srv := server.New(server.Options{Global: global, Registry: reg, Log: log, Version: Version})
	if err := srv.Start(); err != nil {
		reg.Stop(context.Background())
		return err
	}
	log.Infof("Smart proxy has launched on %s", describe(global))
	notify(log, "READY=1")
	select {
	case <-ctx.Done():
	case err = <-srv.Errors():
		log.Error(err)
	}
	log.Info("Shutting down")
	notify(log, "STOPPING=1")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	reg.Stop(shutdownCtx)
	return errors.Join(err, shutdownErr)
}

func describe(g *settings.Global) string {
	s := ""
	if g.HTTPEnabled() {
		s += fmt.Sprintf("http port %d ", g.HTTPPort)
	}
	if g.HTTPSEnabled() {
		s += fmt.Sprintf("https port %d ", g.HTTPSPort)
	}
	return fmt.Sprintf("%s(bind_host %v)", s, g.BindHost)
}

// checkConfig loads every settings file without starting anything, prints each
// feature's state and every problem, and fails if an enabled feature would fail.
func checkConfig(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("settings", "/etc/foreman-proxy/settings.yml", "path of settings.yml")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var warnings []string
	global, err := settings.LoadGlobal(*path, func(w string) { warnings = append(warnings, w) })
	for _, w := range warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	failed := 0
	if err != nil {
		fmt.Fprintln(stdout, "error:", err)
		if global == nil { // unreadable settings.yml: nothing else can be checked
			return 1
		}
		failed++ // keep going: report the features' problems too
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	buffer := logging.NewBuffer(global.LogBuffer, global.LogBufferErrors, logrus.InfoLevel)
	reg := registry.New(registry.Options{Global: global, Log: log, Failures: buffer, Version: Version}, features(buffer)...)
	reg.Load()
	for _, p := range reg.Problems {
		fmt.Fprintln(stdout, p)
	}
	for _, name := range reg.Names() {
		state, err := reg.StateOf(name)
		shown := string(state)
		if state == registry.Starting {
			shown = "ok"
		}
		fmt.Fprintf(stdout, "%-14s %s\n", name, shown)
		if err != nil {
			failed++
		}
	}
	if !global.HTTPEnabled() && !global.HTTPSEnabled() {
		fmt.Fprintln(stdout, "error: Both http and https are disabled, unable to start.")
		failed++
	}
	if global.HTTPSEnabled() {
		failed += checkTLS(global, stdout, time.Now())
	}
	failed += checkEtcd(global, reg, stdout)
	if failed > 0 {
		return 1
	}
	return 0
}
