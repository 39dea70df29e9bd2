package puppetca

import (
	"bytes"
	"crypto/ed25519"
	"encoding/asn1"
	"os"
	"strings"
	"testing"
)

// The fixtures are CSRs a real puppet agent 7.23 sent to puppetserver 7.9.5, one with
// csr_attributes.yaml custom_attributes {1.2.840.113549.1.9.7: "tok.en-123_abc"}.
func TestParseAgentCSRs(t *testing.T) {
	for file, want := range map[string]signingRequest{
		"testdata/agent-csr-with-challenge.pem": {CommonName: "b1.test", ChallengePassword: "tok.en-123_abc"},
		"testdata/agent-csr-plain.pem":          {CommonName: "a1.ok.test"},
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseSigningRequest(data)
		if err != nil || *got != want {
			t.Errorf("%s: %+v, %v; want %+v", file, got, err, want)
		}
	}
}

func TestParseGeneratedCSR(t *testing.T) {
	got, err := parseSigningRequest(makeCSR(t, "h.example.com", "a.b_c-d"))
	if err != nil || got.CommonName != "h.example.com" || got.ChallengePassword != "a.b_c-d" {
		t.Fatalf("%+v, %v", got, err)
	}
}

// The fuzz seeds' kinds parse: Ed25519 keys, BMPString and UTF8String passwords.
func TestParseEd25519CSRs(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	for _, c := range []struct {
		challenge string
		tag       int
		want      string
	}{{"", 0, ""}, {"\x00t\x00o", asn1.TagBMPString, "to"}, {"tok", asn1.TagUTF8String, "tok"}, {"a_b", asn1.TagPrintableString, "a_b"}} {
		got, err := parseSigningRequest(makeCSRWith(t, key, "e.test", c.challenge, c.tag))
		if err != nil || got.CommonName != "e.test" || got.ChallengePassword != c.want {
			t.Errorf("tag %d: %+v, %v; want challenge %q", c.tag, got, err, c.want)
		}
	}
}

func TestParseCSRRefusals(t *testing.T) {
	good, _ := os.ReadFile("testdata/agent-csr-with-challenge.pem")
	tampered := strings.Replace(string(good), "MIIE", "MIIF", 1)
	for name, data := range map[string]string{
		"empty":       "",
		"garbage":     "not a csr",
		"certificate": "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
		"truncated":   string(good[:len(good)/2]),
		"tampered":    tampered,
	} {
		if got, err := parseSigningRequest([]byte(data)); err == nil {
			t.Errorf("%s: parsed as %+v", name, got)
		}
	}
}
