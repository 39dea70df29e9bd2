package iscdhcp

import (
	"strconv"
	"strings"
)

// Subnet is a subnet declaration of dhcpd.conf with the settings dhcp_embedded has
// too. Values dhcpd takes from outside the block (global options) are not inherited.
type Subnet struct {
	Network, Netmask string
	Range            []string // first and last address of the first range, in the subnet or one of its pools
	Routers          []string
	DNSServers       []string
	NTPServers       []string
	DomainName       string
	NextServer       string
	Filename         string
	LeaseTime        int // default-lease-time, seconds
	MTU              int // option interface-mtu
}

// Subnets returns the subnet declarations of src in order, those inside
// shared-network blocks included.
func Subnets(src string) ([]Subnet, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, subnets: &[]Subnet{}}
	var hosts []Host
	if err := p.hostsIn(true, &hosts); err != nil {
		return nil, err
	}
	return *p.subnets, nil
}

// subnet reads a subnet block: its own statements, the first range of its pools, and
// hosts inside it.
func (p *parser) subnet(head []token, hosts *[]Host) error {
	s := Subnet{}
	if len(head) >= 4 && strings.EqualFold(head[2].text, "netmask") {
		s.Network, s.Netmask = head[1].text, head[3].text
	}
	ranges := func(w []string) {
		if len(w) > 0 && strings.EqualFold(w[0], "range") {
			s.apply(w)
		}
	}
	err := p.body(false, s.apply, func(head []token) error {
		if len(head) > 0 && strings.EqualFold(head[0].text, "pool") {
			return p.body(false, ranges, p.skip)
		}
		return p.nested(head, hosts)
	})
	if err != nil {
		return err
	}
	if p.subnets != nil && s.Network != "" {
		*p.subnets = append(*p.subnets, s)
	}
	return nil
}

// apply takes one statement of a subnet block.
func (s *Subnet) apply(w []string) {
	if len(w) < 2 {
		return
	}
	key := strings.ToLower(w[0])
	if key == "option" && len(w) >= 3 {
		key, w = "option "+strings.ToLower(w[1]), w[1:]
	}
	args := addressList(w[1:])
	switch key {
	case "range":
		if len(s.Range) == 0 {
			if len(args) > 0 && args[0] == "dynamic-bootp" {
				args = args[1:]
			}
			switch len(args) {
			case 1:
				s.Range = []string{args[0], args[0]}
			case 2:
				s.Range = args
			}
		}
	case "option routers":
		s.Routers = args
	case "option domain-name-servers":
		s.DNSServers = args
	case "option ntp-servers":
		s.NTPServers = args
	case "option domain-name":
		s.DomainName = w[1]
	case "next-server":
		s.NextServer = ipv4(w[1])
	case "filename":
		s.Filename = w[1]
	case "default-lease-time":
		s.LeaseTime, _ = strconv.Atoi(w[1])
	case "option interface-mtu":
		s.MTU, _ = strconv.Atoi(w[1])
	}
}

// addressList drops the commas between the words of a list.
func addressList(w []string) []string {
	var out []string
	for _, x := range w {
		if x != "," {
			out = append(out, x)
		}
	}
	return out
}
