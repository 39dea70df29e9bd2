package puppetca

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/smartproxy/smartproxy/httpapi"
)

// oidChallengePassword is PKCS #9 challengePassword, where Puppet agents put the
// token from csr_attributes.yaml (custom_attributes: {1.2.840.113549.1.9.7: <token>}).
var oidChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

// signingRequest is what validation needs from a CSR.
type signingRequest struct {
	CommonName        string
	ChallengePassword string // "" when absent
}

// parseSigningRequest reads a PEM (or DER) PKCS #10 request, checks its self-signature
// and extracts the subject CN and challengePassword. The attribute is read by hand:
// Ruby's OpenSSL writes it as a PrintableString holding characters ('_') that the
// type does not allow, which strict ASN.1 decoders reject.
func parseSigningRequest(data []byte) (*signingRequest, error) {
	der := data
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("PEM block is %q, not a certificate request", httpapi.Echo(block.Type))
		}
		der = block.Bytes
	} else if bytes.Contains(data, []byte("-----BEGIN")) {
		return nil, errors.New("the PEM block does not decode (broken base64 or a missing END line)")
	} else if len(data) == 0 || data[0] != 0x30 { // DER starts with a SEQUENCE
		return nil, errors.New("neither a PEM \"CERTIFICATE REQUEST\" block nor DER")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS #10 certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request signature: %w", err)
	}
	password, err := challengePassword(csr.RawTBSCertificateRequest)
	if err != nil {
		return nil, err
	}
	return &signingRequest{CommonName: csr.Subject.CommonName, ChallengePassword: password}, nil
}

// challengePassword walks CertificationRequestInfo ::= SEQUENCE { version, subject,
// subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute } to the attribute.
func challengePassword(tbs []byte) (string, error) {
	var info asn1.RawValue
	if rest, err := asn1.Unmarshal(tbs, &info); err != nil || len(rest) > 0 || info.Tag != asn1.TagSequence {
		return "", errors.New("certificate request info is not a SEQUENCE")
	}
	body := info.Bytes
	for i := 0; i < 3; i++ { // skip version, subject, subjectPKInfo
		var skip asn1.RawValue
		var err error
		if body, err = asn1.Unmarshal(body, &skip); err != nil {
			return "", fmt.Errorf("certificate request info: %w", err)
		}
	}
	if len(body) == 0 {
		return "", nil
	}
	var attrs asn1.RawValue
	if _, err := asn1.Unmarshal(body, &attrs); err != nil {
		return "", fmt.Errorf("certificate request attributes: %w", err)
	}
	if attrs.Class != asn1.ClassContextSpecific || attrs.Tag != 0 {
		return "", nil
	}
	for rest := attrs.Bytes; len(rest) > 0; {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values asn1.RawValue
		}
		var err error
		if rest, err = asn1.Unmarshal(rest, &attr); err != nil {
			return "", fmt.Errorf("certificate request attribute: %w", err)
		}
		if !attr.Type.Equal(oidChallengePassword) {
			continue
		}
		var value asn1.RawValue
		if _, err := asn1.Unmarshal(attr.Values.Bytes, &value); err != nil {
			return "", fmt.Errorf("challengePassword value: %w", err)
		}
		return directoryString(value)
	}
	return "", nil
}

// directoryString decodes the string types a challengePassword may use.
func directoryString(v asn1.RawValue) (string, error) {
	if v.Class != asn1.ClassUniversal {
		return "", errors.New("challengePassword is not a string")
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagIA5String, asn1.TagT61String:
		return string(v.Bytes), nil
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", errors.New("challengePassword BMPString has an odd length")
		}
		units := make([]uint16, len(v.Bytes)/2)
		for i := range units {
			units[i] = binary.BigEndian.Uint16(v.Bytes[2*i:])
		}
		return string(utf16.Decode(units)), nil
	}
	return "", fmt.Errorf("challengePassword has unsupported string type %d", v.Tag)
}
