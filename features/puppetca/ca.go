package puppetca

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/smartproxy/smartproxy/internal/puppetapi"
	"github.com/smartproxy/smartproxy/registry"
)

// caTimeout bounds one Puppet CA call (the Ruby client's 60 s read timeout).
const caTimeout = 60 * time.Second

// httpAPIProvider is puppetca_http_api: the Puppet CA v1 HTTP API.
type httpAPIProvider struct {
	puppetURL string
	client    *puppetapi.Client
	now       func() time.Time
}

var (
	_ registry.Module      = (*httpAPIProvider)(nil)
	_ registry.Exposer     = (*httpAPIProvider)(nil)
	_ certificateAuthority = (*httpAPIProvider)(nil)
)

func newHTTPAPIProvider() *httpAPIProvider { return &httpAPIProvider{now: time.Now} }

func (*httpAPIProvider) Name() string { return HTTPAPIProvider }

func (p *httpAPIProvider) ExposedSettings() map[string]any {
	if p.puppetURL == "" {
		return map[string]any{"puppet_url": nil}
	}
	return map[string]any{"puppet_url": p.puppetURL}
}

// Configure reads puppetca_http_api.yml (spec §4.2).
func (p *httpAPIProvider) Configure(env *registry.Env) error {
	conf := puppetapi.ReadConfig(env.Settings, "/etc/puppetlabs/puppet/ssl/certs/ca.pem")
	p.puppetURL = conf.URL
	var err error
	p.client, err = conf.Client(env.Settings)
	return err
}

// certificateStatus is one entry of GET /puppet/ca. serial, not_before and not_after
// are null with Puppet Servers older than 6.3.
type certificateStatus struct {
	State       string `json:"state"`
	Fingerprint any    `json:"fingerprint"`
	Serial      any    `json:"serial"`
	NotBefore   any    `json:"not_before"`
	NotAfter    any    `json:"not_after"`
}

// List reads every certificate status (the search key is required but ignored).
func (p *httpAPIProvider) List(ctx context.Context) (map[string]certificateStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, caTimeout)
	defer cancel()
	resp, err := p.client.Do(ctx, "GET", "puppet-ca/v1/certificate_statuses/foreman", nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if resp.Status != 200 {
		return nil, puppetapi.Unexpected("Failed to query Puppet CA search v1 API", resp)
	}
	var entries []struct {
		Name         string      `json:"name"`
		State        string      `json:"state"`
		Fingerprint  any         `json:"fingerprint"`
		SerialNumber json.Number `json:"serial_number"`
		NotBefore    *string     `json:"not_before"`
		NotAfter     *string     `json:"not_after"`
	}
	if err := json.Unmarshal(resp.Body, &entries); err != nil {
		return nil, fmt.Errorf("invalid certificate_statuses reply from the Puppet CA: %w", err)
	}
	out := make(map[string]certificateStatus, len(entries))
	for _, e := range entries {
		st := certificateStatus{State: p.normalisedState(e.State, e.NotAfter), Fingerprint: e.Fingerprint}
		if e.SerialNumber != "" {
			st.Serial = e.SerialNumber
		}
		if e.NotBefore != nil {
			st.NotBefore = *e.NotBefore
		}
		if e.NotAfter != nil {
			st.NotAfter = *e.NotAfter
		}
		out[e.Name] = st
	}
	return out, nil
}

// normalisedState maps the CA API's states to the ones Foreman knows from the old
// `puppet cert` tool: requested → pending, signed → valid (revoked once expired).
func (p *httpAPIProvider) normalisedState(state string, notAfter *string) string {
	switch state {
	case "requested":
		return "pending"
	case "signed":
		if notAfter != nil {
			if t, ok := parseCATime(*notAfter); ok && t.Before(p.now()) {
				return "revoked"
			}
		}
		return "valid"
	}
	return state
}

// parseCATime reads the CA's "2031-11-21T00:33:29UTC" timestamps (and RFC 3339).
func parseCATime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04:05MST", time.RFC3339, "2006-01-02T15:04:05Z0700", "2006-01-02 15:04:05 MST"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// Sign signs a pending request.
func (p *httpAPIProvider) Sign(ctx context.Context, certname string) error {
	resp, err := p.setState(ctx, certname, "signed")
	if err != nil {
		return err
	}
	if resp.Status != 204 && resp.Status != 200 {
		return puppetapi.Unexpected("Failed to set Puppet CA certificate_status v1 API", resp)
	}
	return nil
}

// Clean revokes a certificate (if signed) and deletes what the CA holds for certname.
// A name the CA does not know at all is reported as not present.
func (p *httpAPIProvider) Clean(ctx context.Context, certname string) error {
	revoke, err := p.setState(ctx, certname, "revoked")
	if err != nil {
		return err
	}
	switch revoke.Status {
	case 200, 204, 404, 409: // 404 unknown, 409 only a request: nothing to revoke
	default:
		return puppetapi.Unexpected("Failed to set Puppet CA certificate_status v1 API", revoke)
	}
	ctx, cancel := context.WithTimeout(ctx, caTimeout)
	defer cancel()
	del, err := p.client.Do(ctx, "DELETE", "puppet-ca/v1/certificate_status/"+url.PathEscape(certname), nil, nil, nil)
	if err != nil {
		return err
	}
	switch del.Status {
	case 200, 204:
		return nil
	case 404:
		if revoke.Status == 404 {
			return &errNotPresent{msg: fmt.Sprintf("Attempt to remove nonexistent client certificate for %s", certname)}
		}
		return nil
	}
	return puppetapi.Unexpected("Failed to delete Puppet CA certificate_status v1 API", del)
}

func (p *httpAPIProvider) setState(ctx context.Context, certname, state string) (*puppetapi.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, caTimeout)
	defer cancel()
	body, _ := json.Marshal(map[string]string{"desired_state": state})
	return p.client.Do(ctx, "PUT", "puppet-ca/v1/certificate_status/"+url.PathEscape(certname), nil, body, nil)
}
