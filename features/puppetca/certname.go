package puppetca

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/smartproxy/smartproxy/httpapi"
)

// maxCertname bounds a certname to the longest DNS name.
const maxCertname = 255

// checkCertname applies Puppet's certname rule: lower-case letters, digits, '.', '-'
// and '_', not empty. '..' anywhere and a leading '.' are refused too, so a certname
// can never be a relative path segment ("." or "..") in the CA's URL or in a file
// name. The Ruby proxy checks nothing and passes the name on; these messages are ours.
func checkCertname(certname string) error {
	switch {
	case certname == "":
		return fmt.Errorf("Invalid certname: empty")
	case len(certname) > maxCertname:
		return fmt.Errorf("Invalid certname %s: longer than %d bytes", httpapi.Echo(certname), maxCertname)
	case strings.Trim(certname, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != "":
		return fmt.Errorf("Invalid certname %s: only lower-case letters, digits, '.', '-' and '_' are allowed", httpapi.Echo(certname))
	case certname[0] == '.' || strings.Contains(certname, ".."):
		return fmt.Errorf("Invalid certname %s: must not start with '.' or contain '..'", httpapi.Echo(certname))
	}
	return nil
}

// checkAutosignEntry also takes the glob Puppet's autosign.conf allows in front of
// a certname ("*.lab.example.com").
func checkAutosignEntry(entry string) error {
	if rest, ok := strings.CutPrefix(entry, "*."); ok && checkCertname(rest) == nil {
		return nil
	}
	return checkCertname(entry)
}

// certnameParam returns the :certname of the request checked by check, or answers
// 400 and false.
func certnameParam(w http.ResponseWriter, r *http.Request, check func(string) error) (string, bool) {
	certname := httpapi.PathParam(r, "certname")
	if err := check(certname); err != nil {
		httpapi.Error(w, r, http.StatusBadRequest, err.Error())
		return "", false
	}
	return certname, true
}
