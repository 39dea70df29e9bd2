package main

// smart-proxy register: the installer's registration of this proxy with Foreman (or
// foreman-core), as puppet-foreman's foreman_smartproxy type does it (foreman-clients.md
// §3): search by name, create or update the URL, refresh, compare the features.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dghubble/oauth1"
	"github.com/sirupsen/logrus"

	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
	"github.com/smartproxy/smartproxy/logging"
	"github.com/smartproxy/smartproxy/registry"
	"github.com/smartproxy/smartproxy/settings"
)

// registerAttempts is how often the installer tries a request that timed out.
const registerAttempts = 5

// registrar is one run of the flow.
type registrar struct {
	foreman  *url.URL // base URL, path ending in "/"
	name     string
	url      string
	expected []string // Foreman feature names that must be loaded
	user     string   // foreman_user header: the user the OAuth request acts as
	logFile  string   // where the proxy logs, for the failure message
	http     *http.Client
	stdout   io.Writer
	stderr   io.Writer
}

func registerCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	foremanURL := fs.String("foreman-url", "", "Foreman's URL, e.g. https://foreman.example.com (default: foreman_url of --settings)")
	key := fs.String("oauth-consumer-key", "", "Foreman's oauth_consumer_key")
	secret := fs.String("oauth-consumer-secret", "", "Foreman's oauth_consumer_secret (default: $FOREMAN_OAUTH_CONSUMER_SECRET, which ps does not show)")
	name := fs.String("name", "", "the proxy's name in Foreman (default: this host's FQDN)")
	proxyURL := fs.String("url", "", "the URL Foreman reaches this proxy at (default: https://FQDN:https_port, http://FQDN:http_port without https)")
	featureList := fs.String("features", "", `comma-separated names of the features that must load, Foreman's or the proxy's, e.g. "Logs,TFTP,Puppet CA" or "logs,tftp,puppetca" (default: the features --settings enables)`)
	sslCA := fs.String("ssl-ca", "", "CA file to verify Foreman's certificate (default: foreman_ssl_ca or ssl_ca_file of --settings, else the system's)")
	user := fs.String("foreman-user", "admin", "the Foreman user the requests act as (foreman_user header)")
	settingsPath := fs.String("settings", "", "this proxy's settings.yml, for the defaults above")
	timeout := fs.Duration("timeout", 500*time.Second, "timeout of each request to Foreman (retried 5 times, as the installer does)")
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: smart-proxy register --foreman-url URL --oauth-consumer-key K --oauth-consumer-secret S [flags]\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "register: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *secret == "" {
		*secret = os.Getenv("FOREMAN_OAUTH_CONSUMER_SECRET")
	}
	r := &registrar{name: *name, url: *proxyURL, user: *user, logFile: "/var/log/foreman-proxy/proxy.log", stdout: stdout, stderr: stderr}
	var global *settings.Global
	if *settingsPath != "" {
		var err error
		if global, err = settings.LoadGlobal(*settingsPath, func(string) {}); err != nil {
			fmt.Fprintln(stderr, "register:", err)
			return 1
		}
		r.logFile = global.LogFile
		if *foremanURL == "" {
			*foremanURL = global.ForemanURL
		}
		if *sslCA == "" {
			*sslCA, _, _ = global.ForemanClientTLS()
		}
	}
	switch {
	case *foremanURL == "":
		fmt.Fprintln(stderr, "register: --foreman-url is required (or foreman_url in --settings)")
		return 2
	case *key == "" || *secret == "":
		fmt.Fprintln(stderr, "register: --oauth-consumer-key and --oauth-consumer-secret are required (Foreman's oauth_consumer_key and oauth_consumer_secret settings)")
		return 2
	}
	base, err := url.Parse(*foremanURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		fmt.Fprintf(stderr, "register: --foreman-url %q must be an http:// or https:// URL\n", *foremanURL)
		return 2
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	r.foreman = base
	if r.name == "" || r.url == "" {
		fqdn := hostFQDN()
		if r.name == "" {
			r.name = fqdn
		}
		if r.url == "" {
			r.url = defaultProxyURL(fqdn, global)
		}
	}
	r.url = strings.TrimSuffix(r.url, "/") // Foreman stores it so
	if *featureList != "" {
		for _, f := range strings.Split(*featureList, ",") {
			if f = strings.TrimSpace(f); f != "" {
				// "tftp" or "puppetca" mean Foreman's "TFTP" and "Puppet CA"; other names
				// (a plugin's) are compared as given.
				if foremanName, ok := proxies.NormaliseFeature(f); ok {
					f = foremanName
				}
				r.expected = append(r.expected, f)
			}
		}
	} else if global != nil {
		r.expected = enabledFeatures(global)
	}
	tlsConf, err := tlsclient.Config(*sslCA, "", "")
	if err != nil {
		fmt.Fprintln(stderr, "register:", err)
		return 1
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConf
	ctx := context.WithValue(context.Background(), oauth1.HTTPClient, &http.Client{Transport: transport})
	// Two-legged OAuth: the consumer key and secret, no token (the installer's oauth gem
	// sends none; dghubble/oauth1 sends an empty oauth_token, which signs the same way).
	r.http = oauth1.NewConfig(*key, *secret).Client(ctx, oauth1.NewToken("", ""))
	r.http.Timeout = *timeout
	if err := r.run(context.Background()); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// defaultProxyURL is the installer's https://<fqdn>:<ssl_port>, or the http port when
// the settings have no https listener.
func defaultProxyURL(fqdn string, g *settings.Global) string {
	if g == nil || g.HTTPSEnabled() || !g.HTTPEnabled() {
		port := 8443
		if g != nil {
			port = g.HTTPSPort
		}
		return "https://" + net.JoinHostPort(fqdn, strconv.Itoa(port))
	}
	return "http://" + net.JoinHostPort(fqdn, strconv.Itoa(g.HTTPPort))
}

// enabledFeatures are the Foreman names of the features the settings enable: what the
// installer lists (its enabled modules), so one that fails to load is reported.
func enabledFeatures(g *settings.Global) []string {
	log := logrus.New()
	log.SetOutput(io.Discard)
	reg := registry.New(registry.Options{Global: g, Log: log, Version: Version}, features(logging.NewBuffer(1, 1, logrus.InfoLevel))...)
	reg.Load()
	var out []string
	for _, name := range reg.Names() {
		state, _ := reg.StateOf(name)
		if state == registry.Disabled || state == registry.Uninitialized {
			continue
		}
		if foremanName, ok := proxies.NormaliseFeature(name); ok {
			out = append(out, foremanName)
		}
	}
	return out
}

// hostFQDN is this host's name with its domain, like `hostname -f` (Facter's fqdn):
// the name the host's addresses resolve back to, if it extends the short name.
func hostFQDN() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "localhost"
	}
	host = strings.ToLower(host)
	if strings.Contains(host, ".") {
		return host
	}
	addrs, _ := net.LookupHost(host)
	for _, a := range addrs {
		names, _ := net.LookupAddr(a)
		for _, n := range names {
			n = strings.ToLower(strings.TrimSuffix(n, "."))
			if strings.HasPrefix(n, host+".") {
				return n
			}
		}
	}
	return host
}

// foremanProxy is what the flow reads of Foreman's smart proxy JSON.
type foremanProxy struct {
	ID       int64  `json:"id"`
	URL      string `json:"url"`
	Features *[]struct {
		Name string `json:"name"`
	} `json:"features"`
	Unrecognized []string `json:"unrecognized_features"`
}

func (p *foremanProxy) featureNames() []string {
	var out []string
	if p.Features != nil {
		for _, f := range *p.Features {
			out = append(out, f.Name)
		}
	}
	return out
}

func (r *registrar) run(ctx context.Context) error {
	found, err := r.search(ctx)
	if err != nil {
		return err
	}
	if found == nil {
		created, err := r.create(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "Created smart proxy %s (id %d) at %s with features: %s\n", r.name, created.ID, r.url, strings.Join(created.featureNames(), ", "))
		return r.validate(created)
	}
	if strings.TrimSuffix(found.URL, "/") != r.url {
		if _, err := r.call(ctx, http.MethodPut, "api/v2/smart_proxies/"+strconv.FormatInt(found.ID, 10),
			map[string]any{"smart_proxy": map[string]any{"url": r.url}}, "Foreman at "); err != nil {
			return err
		}
		fmt.Fprintf(r.stdout, "Updated the URL of smart proxy %s (id %d) from %s to %s\n", r.name, found.ID, found.URL, r.url)
	}
	refreshed, err := r.refresh(ctx, found.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "Refreshed smart proxy %s (id %d), features: %s\n", r.name, found.ID, strings.Join(refreshed.featureNames(), ", "))
	return r.validate(refreshed)
}

// search is GET api/v2/smart_proxies?search=name="NAME": the proxy, or nil if absent.
func (r *registrar) search(ctx context.Context) (*foremanProxy, error) {
	query := url.Values{"search": {`name="` + r.name + `"`}}.Encode()
	body, err := r.call(ctx, http.MethodGet, "api/v2/smart_proxies?"+query, nil, "Foreman at ")
	if err != nil {
		return nil, err
	}
	var index struct {
		Results []foremanProxy `json:"results"`
	}
	if err := json.Unmarshal(body, &index); err != nil {
		return nil, fmt.Errorf("Foreman at %s answered the proxy search with something else than an index: %v", r.foreman, err)
	}
	if len(index.Results) == 0 {
		return nil, nil
	}
	return &index.Results[0], nil
}

func (r *registrar) create(ctx context.Context) (*foremanProxy, error) {
	body, err := r.call(ctx, http.MethodPost, "api/v2/smart_proxies",
		map[string]any{"smart_proxy": map[string]any{"name": r.name, "url": r.url}}, "Foreman at ")
	if err != nil {
		return nil, err
	}
	var p foremanProxy
	if err := json.Unmarshal(body, &p); err != nil || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return nil, fmt.Errorf("Proxy %s: Foreman API returned empty response body after creating proxy", r.name)
	}
	return &p, nil
}

// refresh is PUT .../refresh; an answer without features (Foreman before #19476) is
// followed by a new search, as the installer does.
func (r *registrar) refresh(ctx context.Context, id int64) (*foremanProxy, error) {
	body, err := r.call(ctx, http.MethodPut, "api/v2/smart_proxies/"+strconv.FormatInt(id, 10)+"/refresh", nil, "")
	if err != nil {
		return nil, err
	}
	var p foremanProxy
	if json.Unmarshal(body, &p) == nil && p.Features != nil {
		return &p, nil
	}
	found, err := r.search(ctx)
	if err != nil {
		return nil, err
	}
	if found == nil {
		return nil, fmt.Errorf("Proxy %s does not exist in Foreman at %s", r.name, r.foreman)
	}
	return found, nil
}

// validate fails, with the installer's words, unless every expected feature loaded.
func (r *registrar) validate(p *foremanProxy) error {
	if len(p.Unrecognized) > 0 {
		fmt.Fprintf(r.stderr, "Warning: Proxy %s has features not recognized by Foreman: %s. If these features come from a Smart Proxy plugin, make sure Foreman has the plugin installed too.\n",
			r.name, strings.Join(p.Unrecognized, ", "))
	}
	have := map[string]bool{}
	for _, n := range p.featureNames() {
		have[n] = true
	}
	var missing []string
	for _, want := range r.expected {
		if !have[want] {
			missing = append(missing, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("Proxy %s has failed to load one or more features (%s), check %s for configuration errors",
		r.name, strings.Join(missing, ", "), describeLogFile(r.logFile))
}

// describeLogFile names where the proxy's log_file setting sends its log.
func describeLogFile(logFile string) string {
	switch strings.ToUpper(logFile) {
	case "STDOUT", "":
		return "the proxy's standard output"
	case "SYSLOG", "JOURNAL", "JOURNALD":
		return "the system log (journalctl -u foreman-proxy)"
	}
	return logFile
}

// call sends one request as the installer does (JSON both ways, foreman_user, OAuth),
// retrying timeouts, and returns the 2xx body. where is the installer's "Foreman at "
// of its error text ("" for refresh, whose text lacks it).
func (r *registrar) call(ctx context.Context, method, path string, payload any, where string) ([]byte, error) {
	target := r.foreman.ResolveReference(&url.URL{Path: strings.SplitN(path, "?", 2)[0]})
	if i := strings.IndexByte(path, '?'); i >= 0 {
		target.RawQuery = path[i+1:]
	}
	var data []byte
	if payload != nil {
		var err error
		if data, err = json.Marshal(payload); err != nil {
			return nil, err
		}
	}
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, target.String(), bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("foreman_user", r.user) // on the wire "Foreman_user", as Net::HTTP sends it
		req.Header.Set("User-Agent", "smart-proxy-register/"+Version)
		resp, err = r.http.Do(req)
		if err == nil {
			break
		}
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			if attempt < registerAttempts {
				fmt.Fprintf(r.stderr, "Timeout calling API at %s. Retrying ..\n", target)
				continue
			}
			return nil, fmt.Errorf("Timeout calling API at %s", target)
		}
		return nil, fmt.Errorf("%s request to %s failed: %v", method, target, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%s request to %s failed reading the answer: %v", method, target, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		base := *target
		base.RawQuery = ""
		return nil, fmt.Errorf("Error making %s request to %s%s: %s", method, where, base.String(), r.errorText(resp, body))
	}
	return body, nil
}

// errorText is the installer's explanation of a failed answer: fixed texts for the
// statuses it knows, else Foreman's full_messages (a 422's reasons).
func (r *registrar) errorText(resp *http.Response, body []byte) string {
	host := r.foreman.Hostname()
	explanations := map[int]string{
		400: "Something is wrong with the data sent to Foreman at " + host,
		401: "Often this is caused by invalid Oauth credentials sent to Foreman at " + host,
		404: "The requested resource was not found in Foreman at " + host,
		500: "Check /var/log/foreman/production.log on " + host + " for detailed information",
		502: "The webserver received an invalid response from the backend service. Was Foreman at " + host + " unable to handle the request?",
		503: "The webserver was unable to reach the backend service. Is Foreman running at " + host + "?",
		504: "The webserver timed out waiting for a response from the backend service. Is Foreman at " + host + " under unusually heavy load?",
	}
	status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if text, ok := explanations[resp.StatusCode]; ok {
		return "Response: " + status + ": " + text
	}
	var e struct {
		Error struct {
			FullMessages []string `json:"full_messages"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Error.FullMessages) > 0 {
		return strings.Join(e.Error.FullMessages, " ")
	}
	return "Response: " + status
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
