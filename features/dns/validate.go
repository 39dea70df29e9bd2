package dns

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	miekg "github.com/miekg/dns"

	"github.com/smartproxy/smartproxy/features/dns/rr"
	"github.com/smartproxy/smartproxy/httpapi"
)

// The Ruby proxy's name rules (spec §5.2): labels of letters and digits, optionally
// followed by more letters, digits and dashes, each optionally ending in a dot. SRV
// names may also hold underscores.
var (
	dnsName = regexp.MustCompile(`^([a-zA-Z0-9]([-a-zA-Z0-9]+)?\.?)+$`)
	srvName = regexp.MustCompile(`^([a-zA-Z0-9_]([-a-zA-Z0-9_]+)?\.?)+$`)
)

// validationError is a 400 with the message the Ruby proxy gives.
type validationError string

func (e validationError) Error() string { return string(e) }

// invalid formats a validation message. Every string argument is what the client
// sent, quoted through httpapi.Echo: names up to 255 bytes come back as the Ruby proxy
// quotes them, control characters escaped and anything longer cut.
func invalid(format string, args ...any) error {
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = httpapi.Echo(s)
		}
	}
	return validationError(fmt.Sprintf(format, args...))
}

// checkName applies the name rule of type t ("SRV" allows underscores). Names that
// pass the pattern but cannot exist in DNS (labels over 63 octets, over 255 in all)
// are refused the same way rather than failing later at the server.
func checkName(name string, t rr.Type) error {
	pattern, msg := dnsName, "Invalid DNS name %s"
	if t == rr.SRV {
		pattern, msg = srvName, "Invalid DNS srv name %s"
	}
	if !pattern.MatchString(name) {
		return invalid(msg, name)
	}
	if _, ok := miekg.IsDomainName(name); !ok || len(miekg.Fqdn(name)) > 255 {
		return invalid(msg, name)
	}
	return nil
}

// isReverseName says whether name lies under in-addr.arpa or ip6.arpa.
func isReverseName(name string) bool {
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	return strings.HasSuffix(n, ".in-addr.arpa") || strings.HasSuffix(n, ".ip6.arpa")
}

// checkReverseName accepts the reverse name of one address, as Foreman builds it:
// four decimal octets under in-addr.arpa, or 32 hex nibbles under ip6.arpa. The Ruby
// proxy only checks the suffix, so the shape messages are ours.
func checkReverseName(name string) error {
	if err := checkName(name, rr.PTR); err != nil {
		return err
	}
	if !isReverseName(name) {
		return invalid("Invalid reverse DNS %s", name)
	}
	n := strings.ToLower(strings.TrimSuffix(name, "."))
	if prefix, ok := strings.CutSuffix(n, ".in-addr.arpa"); ok {
		labels := strings.Split(prefix, ".")
		if len(labels) != 4 || !allLabels(labels, isOctet) {
			return invalid("Invalid reverse DNS %s: an in-addr.arpa name is 4 labels, each a decimal octet 0-255", name)
		}
		return nil
	}
	labels := strings.Split(strings.TrimSuffix(n, ".ip6.arpa"), ".")
	if len(labels) != 32 || !allLabels(labels, isNibble) {
		return invalid("Invalid reverse DNS %s: an ip6.arpa name is 32 labels, each one hex digit", name)
	}
	return nil
}

func allLabels(labels []string, ok func(string) bool) bool {
	for _, l := range labels {
		if !ok(l) {
			return false
		}
	}
	return true
}

// isOctet: 0-255 written as an address is, without leading zeros.
func isOctet(s string) bool {
	v, err := strconv.ParseUint(s, 10, 8)
	return err == nil && strconv.FormatUint(v, 10) == s
}

func isNibble(s string) bool {
	return len(s) == 1 && strings.Contains("0123456789abcdef", s)
}

// parseAddress mirrors Ruby's IPAddr.new(value, family): an address of the wrong
// family is a mismatch, anything else unparsable is invalid. The result is the
// canonical (for IPv6 compressed, lower-case) form.
func parseAddress(value string, t rr.Type) (string, error) {
	ip, err := netip.ParseAddr(value)
	if err != nil || ip.Zone() != "" {
		return "", invalid("invalid address: %s", value)
	}
	if ip.Is4() != (t == rr.A) {
		return "", invalid("address family mismatch: %s", value)
	}
	return ip.String(), nil
}

// parseSRV checks "priority weight port target": exactly four fields, priority and
// weight 0-65535, port 1-65535, target an SRV-style name.
func parseSRV(value string) (string, error) {
	bad := invalid("Invalid DNS SRV value %s", value)
	f := strings.Fields(value)
	if len(f) != 4 {
		return "", bad
	}
	var n [3]uint64
	for i := range n {
		v, err := strconv.ParseUint(f[i], 10, 16)
		if err != nil {
			return "", bad
		}
		n[i] = v
	}
	if n[2] == 0 {
		return "", bad
	}
	if err := checkName(f[3], rr.SRV); err != nil {
		return "", bad
	}
	return fmt.Sprintf("%d %d %d %s", n[0], n[1], n[2], miekg.Fqdn(f[3])), nil
}

// newRecord validates a create request in the Ruby proxy's order (name, then type,
// then value) and returns the record to create. For PTR, fqdn is the target host
// and value the reverse name that owns the record.
func newRecord(fqdn, value, typeName string, ttl uint32) (rr.Record, error) {
	t, known := rr.ParseType(typeName)
	if err := checkName(fqdn, t); err != nil {
		return rr.Record{}, err
	}
	rec := rr.Record{Name: miekg.Fqdn(fqdn), Type: t, TTL: ttl}
	var err error
	switch t {
	case rr.A, rr.AAAA:
		rec.Value, err = parseAddress(value, t)
	case rr.CNAME:
		err = checkName(value, t)
		rec.Value = miekg.Fqdn(value)
	case rr.PTR:
		err = checkReverseName(value)
		rec.Name, rec.Value = miekg.Fqdn(value), miekg.Fqdn(fqdn)
	case rr.SRV:
		rec.Value, err = parseSRV(value)
	}
	if !known {
		return rr.Record{}, invalid("unrecognized 'type' parameter: %s", string(t))
	}
	return rec, err
}

// deleteTarget validates a delete request: the type defaults to PTR for reverse names
// and A otherwise; an explicit PTR needs a reverse name.
func deleteTarget(name, typeName string) (rr.Type, error) {
	if typeName == "" {
		typeName = string(rr.A)
		if isReverseName(name) {
			typeName = string(rr.PTR)
		}
	}
	t, known := rr.ParseType(typeName)
	if err := checkName(name, t); err != nil {
		return t, err
	}
	if !known {
		return t, invalid("unrecognized 'type' parameter: %s", typeName)
	}
	if t == rr.PTR {
		return t, checkReverseName(name)
	}
	return t, nil
}
