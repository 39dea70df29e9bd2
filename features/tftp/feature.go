// Package tftp is the TFTP feature (spec §5.3): Foreman's REST API that writes per-host
// PXE configs, default menus and boot files under tftproot, and an embedded TFTP server
// (package tftpd) that serves that root read-only to PXE clients.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/features/tftp/tftpd"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/registry"
)

// Feature serves /tftp and, when :listen: is set, TFTP on UDP.
type Feature struct {
	cfg     config
	store   store
	log     *logrus.Entry
	fetcher *fetcher
	dynamic []dynamicFile
	hosts   hostLocks
	shared  atomic.Pointer[sharedConfigs] // with :state_backend: etcd, once connected

	mu     sync.Mutex
	server *tftpd.Server
	cancel context.CancelFunc
}

// config is tftp.yml (spec §4.2 plus the embedded server's keys).
type config struct {
	root           string
	imageRoot      string // system_image_root: ISOs of fetch_system_image
	serverName     string
	connectTimeout time.Duration
	verifyCert     bool
	server         tftpd.Config // Addr "" = no embedded server
	state          etcdstate.Config
	node           string        // :etcd_node_name:, this node in fetch status keys
	fetchTTL       time.Duration // :etcd_fetch_ttl:, how long a fetch request stays in etcd
}

var (
	_ registry.Feature = (*Feature)(nil)
	_ registry.Exposer = (*Feature)(nil)
	_ registry.Starter = (*Feature)(nil)
	_ registry.Stopper = (*Feature)(nil)
)

// New returns the feature; settings come later through Configure.
func New() *Feature { return &Feature{} }

func (*Feature) Name() string { return "tftp" }

// Configure reads tftp.yml. Relative paths resolve against the settings folder.
func (f *Feature) Configure(env *registry.Env) error {
	s := env.Settings
	f.log = env.Log
	f.cfg = config{
		root:           s.Path("tftproot", "/var/lib/tftpboot"),
		serverName:     s.String("tftp_servername", ""),
		connectTimeout: time.Duration(positive(s.Int("tftp_connect_timeout", 10), 10)) * time.Second,
		verifyCert:     s.Bool("verify_server_cert", true),
		state:          etcdstate.Parse(s),
	}
	if f.cfg.state.Etcd() {
		host, _ := os.Hostname()
		f.cfg.node = s.String("etcd_node_name", host)
		if f.cfg.node == "" || strings.Contains(f.cfg.node, "/") {
			s.Fail("etcd_node_name", "must be a name without \"/\" (default: the host name), got %q", f.cfg.node)
		}
		ttl := s.Int("etcd_fetch_ttl", defaultFetchTTL)
		if ttl < 5 {
			s.Fail("etcd_fetch_ttl", "must be at least 5 seconds, got %d", ttl)
		}
		f.cfg.fetchTTL = time.Duration(ttl) * time.Second
	}
	listen := s.String("listen", "0.0.0.0:69")
	if listen == "false" {
		listen = ""
	}
	if listen != "" {
		if _, _, err := net.SplitHostPort(listen); err != nil {
			s.Fail("listen", "must be address:port (or false for no embedded server), got %q", listen)
		}
	}
	f.cfg.server = tftpd.Config{
		Addr:          listen,
		MaxTransfers:  positive(s.Int("max_transfers", 1000), 1000),
		Timeout:       time.Duration(positive(s.Int("retransmit_timeout", 1), 1)) * time.Second,
		Retries:       positive(s.Int("retries", 5), 5),
		MaxWindowSize: positive(s.Int("max_windowsize", 64), 64),
	}
	if w := f.cfg.server.MaxWindowSize; w > 65535 {
		s.Fail("max_windowsize", "must be 1-65535, got %d", w)
	}
	if abs, err := filepath.Abs(f.cfg.root); err == nil {
		f.cfg.root = abs // messages name the full path, as the Ruby proxy's do
	}
	// Beside tftproot by default, so a non-root proxy can write it wherever it can write
	// tftproot (/var/lib/tftpboot -> /var/lib/system_images).
	f.cfg.imageRoot = s.Path("system_image_root", "")
	if f.cfg.imageRoot == "" {
		f.cfg.imageRoot = filepath.Join(filepath.Dir(f.cfg.root), "system_images")
	}
	if abs, err := filepath.Abs(f.cfg.imageRoot); err == nil {
		f.cfg.imageRoot = abs
	}
	f.store = store{root: f.cfg.root}
	return nil
}

func positive(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// ExposedSettings: Foreman reads tftp_servername as the next-server for DHCP. With
// etcd the node's copy's state is shown too (read when the page is).
func (f *Feature) ExposedSettings() map[string]any {
	out := map[string]any{"tftp_servername": nil}
	if f.cfg.serverName != "" {
		out["tftp_servername"] = f.cfg.serverName
	}
	out["state_backend"] = etcdstate.BackendJournal
	if f.cfg.state.Etcd() {
		out["state_backend"] = etcdstate.BackendEtcd
		out["etcd_state"] = liveState{f}
	}
	return out
}

// Routes: literal segments (fetch_boot_file, fetch_system_image, system_image,
// create_default, serverName) win over the captures, as in the Ruby proxy. System
// images are served without the client checks, as the Ruby proxy serves them.
func (f *Feature) Routes() []registry.Route {
	return []registry.Route{
		{Method: http.MethodPost, Path: "/tftp/fetch_boot_file", Handler: f.fetchBootFile},
		{Method: http.MethodPost, Path: "/tftp/fetch_system_image", Handler: f.fetchSystemImage},
		{Method: http.MethodGet, Path: "/tftp/system_image/*", Handler: f.serveSystemImage, Public: true},
		{Method: http.MethodHead, Path: "/tftp/system_image/*", Handler: f.serveSystemImage, Public: true},
		{Method: http.MethodGet, Path: "/tftp/serverName", Handler: f.serverNameReply},
		{Method: http.MethodPost, Path: "/tftp/create_default", Handler: f.createDefault},
		{Method: http.MethodPost, Path: "/tftp/:variant/create_default", Handler: f.createDefault},
		{Method: http.MethodGet, Path: "/tftp/:variant/:mac", Handler: f.getConfig},
		{Method: http.MethodPost, Path: "/tftp/:variant/:mac", Handler: f.setConfig},
		{Method: http.MethodDelete, Path: "/tftp/:variant/:mac", Handler: f.deleteConfig},
		{Method: http.MethodPost, Path: "/tftp/:mac", Handler: f.setConfig},
		{Method: http.MethodDelete, Path: "/tftp/:mac", Handler: f.deleteConfig},
	}
}

// Start runs the boot file fetcher and, unless :listen: is false, the TFTP server.
func (f *Feature) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	f.fetcher = newFetcher(ctx, f.log, f.cfg.connectTimeout, f.cfg.verifyCert)
	f.mu.Lock()
	f.cancel = cancel
	f.mu.Unlock()
	if f.cfg.state.Etcd() {
		err := f.startShared(ctx)
		if errors.Is(err, etcdstate.ErrUnavailable) {
			// The files on disk are this node's copy: serve them, and connect later.
			f.log.Errorf("TFTP: serving the files in %s without etcd; API writes answer 503 until the cluster answers: %v", f.cfg.root, err)
			go f.connectLater(ctx)
		} else if err != nil {
			cancel()
			return fmt.Errorf("tftp on etcd: %w", err)
		}
	}
	if f.cfg.server.Addr == "" {
		f.log.Info("TFTP: no :listen: address, the embedded TFTP server is off")
		return nil
	}
	cfg := f.cfg.server
	cfg.Source = f.source()
	cfg.Log = f.log
	srv, err := tftpd.Listen(cfg)
	if errors.Is(err, syscall.EADDRINUSE) {
		// Another TFTP server (tftpd-hpa, xinetd) holds the port, as on a host that ran
		// the Ruby proxy: it serves the same root, so the API still does its job.
		f.log.Errorf("TFTP: udp %s is in use by another server; the embedded TFTP server is off, the API runs (set :listen: false to run without it)", cfg.Addr)
		return nil
	}
	if err != nil {
		cancel()
		if sh := f.shared.Swap(nil); sh != nil {
			sh.close()
		}
		return fmt.Errorf("tftp server: %w", err)
	}
	f.mu.Lock()
	f.server = srv
	f.mu.Unlock()
	go srv.Serve(ctx)
	f.log.Infof("TFTP: serving %s on udp %s", f.cfg.root, srv.Addr())
	return nil
}

// Stop stops the TFTP server (in-flight transfers are cut at ctx's deadline) and waits
// for background downloads to give up.
func (f *Feature) Stop(ctx context.Context) error {
	f.mu.Lock()
	srv, cancel := f.server, f.cancel
	f.server, f.cancel = nil, nil
	f.mu.Unlock()
	var errs []error
	if srv != nil {
		errs = append(errs, srv.Shutdown(ctx))
	}
	if cancel != nil {
		cancel()
	}
	if f.fetcher != nil {
		errs = append(errs, f.fetcher.wait(ctx))
	}
	if sh := f.shared.Swap(nil); sh != nil {
		errs = append(errs, sh.close())
	}
	return errors.Join(errs...)
}

// TFTPAddr is the embedded server's UDP address, nil when it is not running (tests
// listen on port 0 and ask).
func (f *Feature) TFTPAddr() net.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == nil {
		return nil
	}
	return f.server.Addr()
}

// Stats returns the embedded server's counters (zero when it is not running).
func (f *Feature) Stats() tftpd.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.server == nil {
		return tftpd.Stats{}
	}
	return f.server.Stats()
}
