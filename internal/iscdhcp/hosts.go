// Package iscdhcp reads the host declarations of ISC dhcpd's files: static hosts of
// dhcpd.conf and the reservations Foreman's dhcp_isc provider created over OMAPI,
// which dhcpd keeps in dhcpd.leases. It is what `smart-proxy import-isc-dhcp` moves
// into this proxy's DHCP feature.
package iscdhcp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Host is one host declaration.
type Host struct {
	Name       string // the declaration's name
	MAC        string // lower case, two hex digits per octet
	IP         string // fixed-address; empty when it is not one IPv4 address
	Hostname   string // option host-name / supersede host-name
	Filename   string // filename / supersede server.filename
	NextServer string // next-server / supersede server.next-server, dotted quad
	Deleted    bool   // "deleted;" in dhcpd.leases: an OMAPI delete of the name
}

// Hosts returns the host declarations of src in order, including deleted ones; hosts
// inside subnet, shared-network and group blocks count, other blocks are skipped.
func Hosts(src string) ([]Host, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	var hosts []Host
	if err := p.hostsIn(true, &hosts); err != nil {
		return nil, err
	}
	return hosts, nil
}

// Merge applies declarations in order, as dhcpd does when it reads its files: a later
// host of the same name replaces the earlier one and a deleted one removes it. The
// result keeps first-seen order.
func Merge(hosts []Host) []Host {
	index := map[string]int{}
	var out []Host
	var gone []bool
	for _, h := range hosts {
		i, seen := index[h.Name]
		switch {
		case h.Deleted && seen:
			gone[i] = true
		case h.Deleted:
		case seen:
			out[i], gone[i] = h, false
		default:
			index[h.Name] = len(out)
			out = append(out, h)
			gone = append(gone, false)
		}
	}
	kept := out[:0]
	for i, h := range out {
		if !gone[i] {
			kept = append(kept, h)
		}
	}
	return kept
}

type parser struct {
	toks    []token
	pos     int
	subnets *[]Subnet // collected when set
}

var errMissingBrace = fmt.Errorf("unexpected end of file: a '}' is missing")

func errNoSemicolon(t token) error {
	return fmt.Errorf("line %d: statement %q has no ';'", t.line, t.text)
}

// statement returns the tokens up to ';' or '{' (not included) and which ended it;
// "" at the end of input or at a closing '}' (not consumed).
func (p *parser) statement() ([]token, string) {
	start := p.pos
	for p.pos < len(p.toks) {
		t := p.toks[p.pos]
		if !t.quoted && (t.text == ";" || t.text == "{") {
			p.pos++
			return p.toks[start : p.pos-1], t.text
		}
		if !t.quoted && t.text == "}" {
			return p.toks[start:p.pos], ""
		}
		p.pos++
	}
	return p.toks[start:p.pos], ""
}

// body reads the statements of a block up to its '}' (at top level: to the end of
// input), handing each statement to stmt (when not nil) and each nested block's
// header to nested, which reads that block.
func (p *parser) body(top bool, stmt func([]string), nested func(head []token) error) error {
	for {
		tokens, end := p.statement()
		switch end {
		case ";":
			if stmt != nil {
				stmt(words(tokens))
			}
			continue
		case "{":
			if err := nested(tokens); err != nil {
				return err
			}
			continue
		}
		if len(tokens) > 0 {
			return errNoSemicolon(tokens[0])
		}
		if p.pos >= len(p.toks) {
			if top {
				return nil
			}
			return errMissingBrace
		}
		p.pos++ // the '}'
		if top {
			return fmt.Errorf("line %d: '}' without a block", p.toks[p.pos-1].line)
		}
		return nil
	}
}

// skip reads a block nothing is taken from.
func (p *parser) skip([]token) error { return p.body(false, nil, p.skip) }

// hostsIn reads a block whose nested blocks may hold hosts.
func (p *parser) hostsIn(top bool, hosts *[]Host) error {
	return p.body(top, nil, func(head []token) error { return p.nested(head, hosts) })
}

// nested handles a block whose header is head: hosts are read, blocks that may hold
// hosts are walked, anything else is skipped.
func (p *parser) nested(head []token, hosts *[]Host) error {
	kind := ""
	if len(head) > 0 {
		kind = strings.ToLower(head[0].text)
	}
	switch kind {
	case "host":
		if len(head) < 2 {
			return fmt.Errorf("line %d: host without a name", head[0].line)
		}
		h := Host{Name: head[1].text}
		if err := p.body(false, h.apply, p.skip); err != nil { // no block belongs in a host
			return fmt.Errorf("host %s: %w", h.Name, err)
		}
		*hosts = append(*hosts, h)
		return nil
	case "subnet":
		return p.subnet(head, hosts)
	case "shared-network", "group":
		return p.hostsIn(false, hosts)
	}
	return p.skip(head)
}

func words(stmt []token) []string {
	w := make([]string, len(stmt))
	for i, t := range stmt {
		w[i] = t.text
	}
	return w
}

// apply takes one statement of a host block.
func (h *Host) apply(w []string) {
	if len(w) == 0 {
		return
	}
	// "supersede x = v" (OMAPI hosts in dhcpd.leases) means the same as "x v".
	if strings.EqualFold(w[0], "supersede") && len(w) >= 4 && w[2] == "=" {
		w = append([]string{w[1]}, w[3:]...)
	}
	key := strings.ToLower(w[0])
	switch {
	case key == "deleted":
		h.Deleted = true
	case key == "hardware" && len(w) >= 3 && strings.EqualFold(w[1], "ethernet"):
		h.MAC = normalizeMAC(w[2])
	case key == "fixed-address" && len(w) == 2:
		if a, err := netip.ParseAddr(w[1]); err == nil && a.Is4() {
			h.IP = a.String()
		}
	case (key == "server.filename" || key == "filename") && len(w) >= 2:
		h.Filename = w[1]
	case (key == "server.next-server" || key == "next-server") && len(w) >= 2:
		h.NextServer = ipv4(w[1])
	case key == "host-name" && len(w) >= 2:
		h.Hostname = w[1]
	case key == "option" && len(w) >= 3 && strings.EqualFold(w[1], "host-name"):
		h.Hostname = w[2]
	}
}

// normalizeMAC lower-cases and pads octets ("0:16:3e:a:b:c" as dhcpd may write them).
func normalizeMAC(s string) string {
	parts := strings.Split(strings.ToLower(s), ":")
	for i, p := range parts {
		if len(p) == 1 {
			parts[i] = "0" + p
		}
	}
	return strings.Join(parts, ":")
}

// ipv4 reads a dotted quad or the colon-separated hex octets dhcpd writes for OMAPI
// values ("c0:a8:7a:01"); anything else is returned as it is.
func ipv4(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return s
	}
	var b [4]byte
	for i, p := range parts {
		v, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return s
		}
		b[i] = byte(v)
	}
	return netip.AddrFrom4(b).String()
}

// Includes returns the files src pulls in with `include "path";` (dhcpd.conf often keeps
// its static hosts in such a file), in order.
func Includes(src string) ([]string, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	var paths []string
	for i := 0; i+2 < len(toks); i++ {
		start := i == 0 || (!toks[i-1].quoted && strings.Contains(";{}", toks[i-1].text))
		if start && !toks[i].quoted && strings.EqualFold(toks[i].text, "include") && toks[i+1].quoted &&
			!toks[i+2].quoted && toks[i+2].text == ";" {
			paths = append(paths, toks[i+1].text)
		}
	}
	return paths, nil
}
