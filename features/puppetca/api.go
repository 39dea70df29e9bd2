package puppetca

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
	"github.com/smartproxy/smartproxy/internal/etcdstate"
	"github.com/smartproxy/smartproxy/internal/httplimit"
)

// maxCSR bounds the body of POST /puppet/ca/validate (the route's body limit) and
// the CSR the puppetca-validate command reads: a CSR is 1-2 KiB even with a 4096-bit
// RSA key and Puppet's extension requests.
const maxCSR = 64 << 10

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
	certname, ok := certnameParam(w, r, checkCertname)
	if !ok {
		return
	}
	if err := f.ca.Sign(r.Context(), certname); err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to sign certificate(s) for %s: %v", certname, err))
		return
	}
	httpapi.Empty(w)
}

// clean is DELETE /puppet/ca/:certname: revoke, then delete from the CA.
func (f *Feature) clean(w http.ResponseWriter, r *http.Request) {
	certname, ok := certnameParam(w, r, checkCertname)
	if !ok {
		return
	}
	err := f.ca.Clean(r.Context(), certname)
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
	certname, ok := certnameParam(w, r, checkAutosignEntry)
	if !ok {
		return
	}
	ttl, _ := strconv.Atoi(strings.TrimSpace(httpapi.Params(r).Get("token_ttl"))) // like Ruby's to_i: junk is 0, the default
	reply, err := f.autosign.Add(certname, ttl)
	if unavailable(w, r, "Failed to enable autosign for "+certname, err) {
		return
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
	certname, ok := certnameParam(w, r, checkAutosignEntry)
	if !ok {
		return
	}
	err := f.autosign.Remove(certname)
	if respondNotPresent(w, r, err) || unavailable(w, r, "Failed to remove autosign for "+certname, err) {
		return
	}
	if err != nil {
		httpapi.Error(w, r, http.StatusNotAcceptable, fmt.Sprintf("Failed to remove autosign for %s: %v", certname, err))
		return
	}
	httpapi.Empty(w)
}

// validate is POST /puppet/ca/validate, called by the puppetca-validate hook with the
// CSR Puppet Server received: 200 sign it, 404 leave it pending (both empty, as in
// the Ruby proxy). A body that is not a CSR is the caller's mistake: 400 saying what
// is wrong (the Ruby proxy answered an empty 404), 413 past maxCSR.
func (f *Feature) validate(w http.ResponseWriter, r *http.Request) {
	v, ok := f.autosign.(csrValidator)
	if !ok {
		httpapi.Error(w, r, http.StatusNotImplemented, "Provider only supports trivial autosigning")
		return
	}
	data, status, err := requestCSR(r)
	if err != nil {
		httpapi.Error(w, r, status, err.Error())
		return
	}
	if len(bytes.TrimSpace(data)) == 0 {
		httpapi.Error(w, r, http.StatusBadRequest, "No CSR in the request body: post the PEM certificate request Puppet Server received")
		return
	}
	csr, err := parseSigningRequest(data)
	if err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, "Invalid CSR: "+err.Error())
		return
	}
	sign, err := v.ValidateCSR(r.Context(), csr)
	if unavailable(w, r, "Failed to validate CSR", err) {
		return
	}
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

// requestCSR reads the raw CSR body, at most maxCSR bytes (the status says what went
// wrong). A client that posts it with the form content type (Ruby's Net::HTTP
// default, used by the stock autosign script) may have had the body taken as a form;
// the PEM is then rebuilt from that.
func requestCSR(r *http.Request) ([]byte, int, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxCSR+1))
	if err != nil {
		if e := httplimit.BodyError(err); e != nil {
			return nil, e.Status, e
		}
		return nil, http.StatusBadRequest, fmt.Errorf("Could not read the request body: %w", err)
	}
	if len(body) > maxCSR {
		return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("Request body too large: this route takes at most %d bytes", maxCSR)
	}
	if len(body) == 0 && len(r.PostForm) > 0 {
		return rebuildFormMangledPEM(r.PostForm), 0, nil
	}
	return body, 0, nil
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

// unavailable answers 503 when the shared autosign state (etcd) has no quorum:
// nothing was changed (a CSR stays pending: the hook exits 1).
func unavailable(w http.ResponseWriter, r *http.Request, what string, err error) bool {
	if !errors.Is(err, etcdstate.ErrUnavailable) {
		return false
	}
	httpapi.Error(w, r, http.StatusServiceUnavailable, what+": "+err.Error())
	return true
}

func respondNotPresent(w http.ResponseWriter, r *http.Request, err error) bool {
	var np *errNotPresent
	if errors.As(err, &np) {
		httpapi.Error(w, r, http.StatusNotFound, np.Error())
		return true
	}
	return false
}
