package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/iscdhcp"
	"github.com/smartproxy/smartproxy/internal/tlsclient"
)

// importISCDHCP is `smart-proxy import-isc-dhcp`: it reads the host declarations of ISC
// dhcpd's files (dhcpd.conf, then dhcpd.leases, where the reservations Foreman made
// through dhcp_isc live) and creates each through a running proxy's POST /dhcp/<network>,
// as Foreman would. Any DHCP provider behind that proxy works; the proxy's subnets
// decide which network each host goes to. It exits 1 unless every host was created.
func importISCDHCP(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import-isc-dhcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	proxy := fs.String("proxy", "http://127.0.0.1:8000", "URL of the smart proxy")
	caFile := fs.String("cacert", "", "CA file to verify an https proxy")
	certFile := fs.String("cert", "", "client certificate for an https proxy")
	keyFile := fs.String("key", "", "key of the client certificate")
	dryRun := fs.Bool("dry-run", false, "print what would be created, create nothing")
	printSubnets := fs.Bool("print-subnets", false, "print the files' subnets as dhcp_embedded.yml's :subnets: and stop")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: smart-proxy import-isc-dhcp [flags] dhcpd.conf [dhcpd.leases ...]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *printSubnets {
		return printISCSubnets(fs.Args(), stdout, stderr)
	}
	var all []iscdhcp.Host
	seen := map[string]bool{}
	for _, path := range fs.Args() {
		hosts, err := readISCHosts(path, seen)
		if err != nil {
			fmt.Fprintln(stderr, "smart-proxy:", err)
			return 1
		}
		all = append(all, hosts...)
	}
	client, err := importClient(*caFile, *certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "smart-proxy:", err)
		return 1
	}
	base := strings.TrimSuffix(*proxy, "/")
	subnets, err := proxySubnets(client, base)
	if err != nil {
		fmt.Fprintln(stderr, "smart-proxy:", err)
		return 1
	}
	imported, skipped := 0, 0
	for _, h := range iscdhcp.Merge(all) {
		network, form, why := reservationFor(h, subnets)
		if why == "" && !*dryRun {
			why = postReservation(client, base, network, form)
		}
		if why != "" {
			skipped++
			fmt.Fprintf(stdout, "skipped  %s: %s\n", h.Name, why)
			continue
		}
		imported++
		verb := "imported"
		if *dryRun {
			verb = "would import"
		}
		fmt.Fprintf(stdout, "%s %s: %s %s in %s\n", verb, h.Name, h.IP, h.MAC, network)
	}
	fmt.Fprintf(stdout, "%d imported, %d skipped\n", imported, skipped)
	if skipped > 0 {
		return 1
	}
	return 0
}

// readISCHosts returns the host declarations of path and of the files it includes
// (after its own; a relative include is taken from path's folder), each file once.
func readISCHosts(path string, seen map[string]bool) ([]iscdhcp.Host, error) {
	if seen[path] {
		return nil, nil
	}
	seen[path] = true
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	hosts, err := iscdhcp.Hosts(string(src))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	includes, _ := iscdhcp.Includes(string(src)) // Hosts already tokenized src
	for _, inc := range includes {
		if !filepath.IsAbs(inc) {
			inc = filepath.Join(filepath.Dir(path), inc)
		}
		more, err := readISCHosts(inc, seen)
		if err != nil {
			return nil, fmt.Errorf("%s includes %w", path, err)
		}
		hosts = append(hosts, more...)
	}
	return hosts, nil
}

// reservationFor picks the proxy subnet of h and the form Foreman would post, or says
// why h cannot be imported.
func reservationFor(h iscdhcp.Host, subnets []netip.Prefix) (string, url.Values, string) {
	if h.MAC == "" || h.IP == "" {
		return "", nil, "no hardware ethernet address or no single IPv4 fixed-address"
	}
	ip := netip.MustParseAddr(h.IP)
	var network string
	for _, p := range subnets {
		if p.Contains(ip) {
			network = p.Addr().String()
			break
		}
	}
	if network == "" {
		return "", nil, fmt.Sprintf("no subnet of the proxy holds %s", h.IP)
	}
	hostname := h.Hostname
	if hostname == "" {
		hostname = h.Name
	}
	form := url.Values{"mac": {h.MAC}, "ip": {h.IP}, "hostname": {hostname}, "name": {h.Name}}
	if h.Filename != "" {
		form.Set("filename", h.Filename)
	}
	if h.NextServer != "" {
		form.Set("nextServer", h.NextServer)
	}
	return network, form, ""
}

// postReservation creates one reservation; it returns the proxy's refusal, if any.
func postReservation(client *http.Client, base, network string, form url.Values) string {
	resp, err := client.PostForm(base+"/dhcp/"+network, form)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return ""
}

// proxySubnets asks the proxy for its DHCP subnets (GET /dhcp).
func proxySubnets(client *http.Client, base string) ([]netip.Prefix, error) {
	resp, err := client.Get(base + "/dhcp")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/dhcp: %s: %s", base, resp.Status, strings.TrimSpace(string(body)))
	}
	var list []struct{ Network, Netmask string }
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET %s/dhcp: %w", base, err)
	}
	var out []netip.Prefix
	for _, s := range list {
		network, err1 := netip.ParseAddr(s.Network)
		mask, err2 := netip.ParseAddr(s.Netmask)
		if err1 != nil || err2 != nil || !mask.Is4() {
			continue
		}
		if bits, _ := net.IPMask(mask.AsSlice()).Size(); bits > 0 {
			out = append(out, netip.PrefixFrom(network, bits))
		}
	}
	return out, nil
}

// importClient talks to the proxy; https with a client certificate as Foreman does.
func importClient(caFile, certFile, keyFile string) (*http.Client, error) {
	conf, err := tlsclient.Config(caFile, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}, nil
}
