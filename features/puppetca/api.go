package puppetca

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/smartproxy/smartproxy/httpapi"
)

// maxCSR bounds the body of POST /puppet/ca/validate; a CSR is a few KiB.
const maxCSR = 1 << 20

// list is GET /puppet/ca: every certificate the CA knows, keyed by certname.
func (f *Feature) list(w http.ResponseWriter, r *http.Request) {
	certs, err := f.ca.List(r.Context())
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to list certificates: "+err.Error())
		return
	}
	httpapi.JSON(w, http.StatusOK, certs)
}

// sign is POST /puppet/ca/:certname.
func (f *Feature) sign(w http.ResponseWriter, r *http.Request) {
	certname := httpapi.PathParam(r, "certname")
	err := checkCertname(certname)
	if err == nil {
		err = f.ca.Sign(r.Context(), certname)
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to sign certificate(s) for %s: %v", certname, err))
		return
	}
	httpapi.Empty(w)
}

// clean is DELETE /puppet/ca/:certname: revoke, then delete from the CA.
func (f *Feature) clean(w http.ResponseWriter, r *http.Request) {
	certname := httpapi.PathParam(r, "certname")
	err := checkCertname(certname)
	if err == nil {
		err = f.ca.Clean(r.Context(), certname)
	}
	if respondNotPresent(w, r, err) {
		return
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to remove certificate(s) for %s: %v", certname, err))
		return
	}
	httpapi.Empty(w)
}

// autosignList is GET /puppet/ca/autosign.
func (f *Feature) autosignList(w http.ResponseWriter, r *http.Request) {
	names, err := f.autosign.List()
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to list autosign entries: "+err.Error())
		return
	}
	httpapi.JSON(w, http.StatusOK, names)
}

// autosignAdd is POST /puppet/ca/autosign/:certname (form token_ttl in minutes for
// the token provider).
func (f *Feature) autosignAdd(w http.ResponseWriter, r *http.Request) {
	params := httpapi.Params(r)
	certname := params.Get("certname")
	ttl, _ := strconv.Atoi(strings.TrimSpace(params.Get("token_ttl"))) // like Ruby's to_i: junk is 0, the default
	var reply any
	err := checkCertname(certname)
	if err == nil {
		reply, err = f.autosign.Add(certname, ttl)
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to enable autosign for %s: %v", certname, err))
		return
	}
	if reply == nil {
		httpapi.Empty(w)
		return
	}
	httpapi.JSON(w, http.StatusOK, reply)
}

// autosignRemove is DELETE /puppet/ca/autosign/:certname.
func (f *Feature) autosignRemove(w http.ResponseWriter, r *http.Request) {
	certname := httpapi.PathParam(r, "certname")
	err := checkCertname(certname)
	if err == nil {
		err = f.autosign.Remove(certname)
	}
	if respondNotPresent(w, r, err) {
		return
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to remove autosign for %s: %v", certname, err))
		return
	}
	httpapi.Empty(w)
}

// validate is POST /puppet/ca/validate, called by the puppetca-validate hook with the
// CSR Puppet Server received: 200 sign it, 404 leave it pending.
func (f *Feature) validate(w http.ResponseWriter, r *http.Request) {
	v, ok := f.autosign.(csrValidator)
	if !ok {
		httpapi.Error(w, r, http.StatusNotImplemented, "Provider only supports trivial autosigning")
		return
	}
	csr, err := requestCSR(r)
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to validate CSR: "+err.Error())
		return
	}
	sign, err := v.ValidateCSR(r.Context(), csr)
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, "Failed to validate CSR: "+err.Error())
		return
	}
	if sign {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNotFound)
}

// requestCSR reads the raw CSR body. A client that posts it with the form content type
// (Ruby's Net::HTTP default, used by the stock autosign script) has had the body
// parsed as a form by the server's _method override; the PEM is rebuilt from that.
func requestCSR(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCSR))
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(body) == 0 && len(r.PostForm) > 0 {
		return rebuildFormMangledPEM(r.PostForm), nil
	}
	return body, nil
}

// rebuildFormMangledPEM undoes form decoding of a PEM document: the body became one
// key (up to the first '=', base64 padding) and value, with '+' decoded as ' '. PEM
// has no '&', ';' or '%', so only those two changes need undoing.
func rebuildFormMangledPEM(form map[string][]string) []byte {
	var raw string
	for k, vs := range form {
		raw = k
		if len(vs) > 0 && vs[0] != "" {
			raw += "=" + vs[0]
		}
		break
	}
	lines := strings.Split(raw, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "-----") {
			lines[i] = strings.ReplaceAll(l, " ", "+")
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func respondNotPresent(w http.ResponseWriter, r *http.Request, err error) bool {
	var np *errNotPresent
	if errors.As(err, &np) {
		httpapi.Error(w, r, http.StatusNotFound, np.Error())
		return true
	}
	return false
}

// checkCertname refuses names that could not be Puppet certnames and would corrupt
// the autosign file or the CA URL (whitespace, control characters, '/').
func checkCertname(certname string) error {
	if certname == "" || len(certname) > 255 {
		return errors.New("invalid certname")
	}
	for _, c := range certname {
		if c == '/' || unicode.IsSpace(c) || unicode.IsControl(c) {
			return fmt.Errorf("invalid certname %q", certname)
		}
	}
	return nil
}
