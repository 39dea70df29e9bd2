package ca

import (
	"bufio"
	"bytes"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/internal/durable"
)

// Status is an index entry's first column, as in openssl ca's index.txt.
type Status string

const (
	Valid   Status = "V"
	Revoked Status = "R"
)

// Entry is one issued certificate in index.txt. The file has openssl ca's layout —
// status, expiry, revocation time, serial (hex), file name ("unknown"), subject, one
// tab-separated line per certificate — so `openssl ca -status` can read it too.
type Entry struct {
	Status    Status
	NotAfter  time.Time
	RevokedAt time.Time // zero unless Status is Revoked
	Serial    *big.Int
	Subject   string // "/CN=NAME"
}

// Name is the entry's common name.
func (e Entry) Name() string {
	for _, part := range strings.Split(e.Subject, "/") {
		if cn, ok := strings.CutPrefix(part, "CN="); ok {
			return cn
		}
	}
	return ""
}

// SerialHex is the serial as openssl writes it: upper-case hex, an even number of digits.
func SerialHex(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

func parseSerialHex(s string) (*big.Int, bool) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 {
		return nil, false
	}
	return n, true
}

// openssl's index times: UTCTime (YYMMDDHHMMSSZ) before 2050, GeneralizedTime after.
const (
	utcTimeLayout         = "060102150405Z"
	generalizedTimeLayout = "20060102150405Z"
)

func formatIndexTime(t time.Time) string {
	t = t.UTC()
	if t.Year() >= 1950 && t.Year() < 2050 {
		return t.Format(utcTimeLayout)
	}
	return t.Format(generalizedTimeLayout)
}

func parseIndexTime(s string) (time.Time, error) {
	s, _, _ = strings.Cut(s, ",") // a revocation time may carry ",reason"
	if len(s) == len(generalizedTimeLayout) {
		return time.Parse(generalizedTimeLayout, s)
	}
	return time.Parse(utcTimeLayout, s)
}

func (e Entry) line() string {
	revoked := ""
	if e.Status == Revoked {
		revoked = formatIndexTime(e.RevokedAt)
	}
	return strings.Join([]string{string(e.Status), formatIndexTime(e.NotAfter), revoked, SerialHex(e.Serial), "unknown", e.Subject}, "\t") + "\n"
}

func formatIndex(entries []Entry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		b.WriteString(e.line())
	}
	return b.Bytes()
}

// readIndex parses index.txt; a line it cannot read is an error naming the line, since
// revoking or issuing on a misread index could lose a revocation.
func readIndex(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the index: %w", err)
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		e, err := parseIndexLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

func parseIndexLine(line string) (Entry, error) {
	f := strings.Split(line, "\t")
	if len(f) != 6 {
		return Entry{}, fmt.Errorf("want 6 tab-separated fields, got %d", len(f))
	}
	e := Entry{Status: Status(f[0]), Subject: f[5]}
	switch e.Status {
	case Valid, Revoked, "E": // E: openssl's "expired" mark; treated as valid-but-expired
		if e.Status == "E" {
			e.Status = Valid
		}
	default:
		return Entry{}, fmt.Errorf("unknown status %q", f[0])
	}
	var err error
	if e.NotAfter, err = parseIndexTime(f[1]); err != nil {
		return Entry{}, fmt.Errorf("expiry %q: %w", f[1], err)
	}
	if e.Status == Revoked {
		if e.RevokedAt, err = parseIndexTime(f[2]); err != nil {
			return Entry{}, fmt.Errorf("revocation time %q: %w", f[2], err)
		}
	}
	var ok bool
	if e.Serial, ok = parseSerialHex(f[3]); !ok {
		return Entry{}, fmt.Errorf("serial %q is not a positive hex number", f[3])
	}
	return e, nil
}

// readCounter reads a hex counter file (serial, crlnumber), as openssl keeps them.
func readCounter(path string) (*big.Int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	n, ok := parseSerialHex(string(data))
	if !ok {
		return nil, fmt.Errorf("%s holds %q, not a positive hex number", path, strings.TrimSpace(string(data)))
	}
	return n, nil
}

func writeCounter(path string, n *big.Int) error {
	return durable.WriteFile(path, []byte(SerialHex(n)+"\n"), 0o644)
}
