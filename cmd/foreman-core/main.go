// Command foreman-core is the thin Foreman core: Foreman's REST API for smart proxies,
// domains, subnets, operating systems, media and hosts, over SQLite or PostgreSQL.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/auth"
	"github.com/smartproxy/smartproxy/core/config"
	"github.com/smartproxy/smartproxy/core/orchestrate"
	"github.com/smartproxy/smartproxy/core/provision"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/puppet"
	"github.com/smartproxy/smartproxy/core/store"
	"github.com/smartproxy/smartproxy/internal/sdnotify"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/logging"
)

// Version is the Foreman API version the core speaks to clients.
const Version = "3.11.0"

const defaultConfig = "/etc/foreman-core/foreman-core.yml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check-config" {
		return checkConfig(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fs := flag.NewFlagSet("foreman-core", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", defaultConfig, "path of foreman-core.yml")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: foreman-core [serve] [--config PATH]        run the core
       foreman-core check-config [--config PATH]   check the configuration, start nothing
       foreman-core --version
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
	if err := serve(*path, stdout); err != nil {
		fmt.Fprintln(stderr, "foreman-core:", err)
		return 1
	}
	return 0
}

// serve runs the core until SIGTERM or SIGINT, then stops gracefully.
func serve(path string, stdout io.Writer) error {
	var warnings []string
	cfg, err := config.Load(path, func(w string) { warnings = append(warnings, w) })
	if err != nil {
		return err
	}
	log, _, logOut, err := logging.New(cfg.LogFile, cfg.LogLevel, 100, 10)
	if err != nil {
		return err
	}
	defer logOut.Close()
	for _, w := range warnings {
		log.Warn(w)
	}
	stopReopening := reopenLogOnSIGUSR1(log, logOut)
	defer stopReopening()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return fmt.Errorf("creating state_dir %s: %w", cfg.StateDir, err)
	}
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	st, err := store.Open(openCtx, cfg.Database)
	cancel()
	if err != nil {
		return err
	}
	defer st.Close()
	log.Infof("Database: %s (%s, schema version %d)", store.Redact(cfg.Database), st.Dialect(), store.Migrations())
	if err := ensureAdmin(ctx, st, cfg, log, stdout); err != nil {
		return err
	}

	app, err := newApp(ctx, cfg, st, log)
	if err != nil {
		return err
	}
	srv, err := startListeners(cfg, app, log)
	if err != nil {
		return err
	}
	log.Infof("foreman-core %s has launched on %s", Version, srv.describe())
	notify(log, "READY=1")
	select {
	case <-ctx.Done():
	case err = <-srv.errors:
		log.Error(err)
	}
	log.Info("Shutting down")
	notify(log, "STOPPING=1")
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelShutdown()
	return errors.Join(err, srv.shutdown(shutdownCtx))
}

// newApp wires authentication, the proxy client and the API over the store.
func newApp(ctx context.Context, cfg *config.Config, st *store.Store, log *logrus.Logger) (http.Handler, error) {
	dir := store.AuthDirectory{Store: st}
	authenticator, err := auth.New(authConfig(cfg, log), dir, dir)
	if err != nil {
		return nil, err
	}
	tlsConf, err := tlsclient.Config(cfg.SSLCAFile, cfg.SSLCertificate, cfg.SSLPrivKey)
	if err != nil {
		return nil, err
	}
	client := proxies.NewClient(tlsConf, cfg.ProxyRequestTimeout)
	renderer, err := provision.NewRenderer(st, cfg.TemplatesDir, cfg.UnattendedURL)
	if err != nil {
		return nil, err
	}
	orch := orchestrate.New(orchestrate.Options{Store: st, Proxies: client, Renderer: renderer,
		Resolver: orchestrate.NewResolver(cfg.DNSConflictServers), UnattendedURL: cfg.UnattendedURL, Log: log})
	// TrackBuilds gives hosts entering build their token inside the orchestrator's save,
	// so the PXE configs rendered after it carry the token.
	orchestrator := provision.TrackBuilds(orch, st, cfg.TokenDuration)
	app := api.New(api.Options{Store: st, Auth: authenticator, Proxies: client, Orchestrator: orchestrator, Log: log})
	provision.Mount(app, provision.MountOptions{Store: st, Renderer: renderer, Finisher: orch, Log: log,
		Preview: authenticator.RequireUser(), Origin: authenticator.Origin})
	reports := puppet.Mount(app, puppet.Options{Store: st, Auth: authenticator, Log: log,
		CreateHostsFromFacts: cfg.CreateNewHostWhenFactsAreUploaded, CreateHostsFromReports: cfg.CreateNewHostWhenReportIsUploaded,
		EncEnvironment: cfg.EncEnvironment, ReportRetention: cfg.ConfigReportRetention})
	go reports.RunReportExpiry(ctx, time.Hour)
	orch.Mount(app, authenticator.RequireUser())
	return app, nil
}

// authConfig is the authentication part of the configuration.
func authConfig(cfg *config.Config, log logrus.FieldLogger) auth.Config {
	return auth.Config{
		OAuthActive: cfg.OAuthActive, OAuthConsumerKey: cfg.OAuthConsumerKey, OAuthConsumerSecret: cfg.OAuthConsumerSecret,
		OAuthMapUsers: cfg.OAuthMapUsers, TrustedHosts: cfg.TrustedHosts,
		RestrictRegisteredProxies: cfg.RestrictRegisteredSmartProxies, TrustedProxies: cfg.TrustedProxies, Log: log,
	}
}

func notify(log *logrus.Logger, state string) {
	if err := sdnotify.Notify(state); err != nil {
		log.Warnf("sd_notify %s: %v", state, err)
	}
}

// reopenLogOnSIGUSR1 reopens log_file when logrotate has moved it.
func reopenLogOnSIGUSR1(log *logrus.Logger, out *logging.Output) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				if err := out.Reopen(); err != nil {
					log.Errorf("reopening the log file: %v", err)
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
