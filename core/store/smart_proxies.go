package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/url"
	"time"
)

// SmartProxy is a registered proxy and the features discovered on it (§6.3).
type SmartProxy struct {
	ID                   int64
	Name                 string
	URL                  string
	Features             []Feature
	HostsCount           int
	CreatedAt, UpdatedAt time.Time
}

// Feature is one feature a proxy runs: Foreman's name ("Puppet CA"), its id in the
// features table, and what the proxy reported for it.
type Feature struct {
	ID           int64
	Name         string
	Capabilities []string
	Settings     map[string]any
}

// HasFeature reports whether the proxy runs the feature with this Foreman name.
func (p SmartProxy) HasFeature(name string) bool {
	for _, f := range p.Features {
		if f.Name == name {
			return true
		}
	}
	return false
}

// feature returns the proxy's feature of that Foreman name, nil if it has none.
func (p SmartProxy) feature(name string) *Feature {
	for i := range p.Features {
		if p.Features[i].Name == name {
			return &p.Features[i]
		}
	}
	return nil
}

// HasCapability is Foreman's has_capability?(feature, capability).
func (p SmartProxy) HasCapability(feature, capability string) bool {
	if f := p.feature(feature); f != nil {
		for _, c := range f.Capabilities {
			if c == capability {
				return true
			}
		}
	}
	return false
}

// Setting is Foreman's setting(feature, key): what discovery stored, nil when absent
// (e.g. Setting("HTTPBoot", "http_port"), Setting("Puppet", "puppet_url")).
func (p SmartProxy) Setting(feature, key string) any {
	if f := p.feature(feature); f != nil {
		return f.Settings[key]
	}
	return nil
}

var smartProxyFields = map[string]field{
	"id":   {"id", intField},
	"name": {"name", textField},
	"url":  {"url", textField},
	"feature": {`(SELECT MIN(f.name) FROM proxy_features pf JOIN features f ON f.id = pf.feature_id
		WHERE pf.smart_proxy_id = smart_proxies.id)`, textField},
}

// ListSmartProxies returns one page of proxies, features included.
func (s *Store) ListSmartProxies(ctx context.Context, opts ListOptions) (Counts, []SmartProxy, error) {
	c, ids, err := s.listIDs(ctx, "smart_proxies", smartProxyFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.SmartProxy)
	return c, list, err
}

// SmartProxy loads a proxy by id.
func (s *Store) SmartProxy(ctx context.Context, id int64) (SmartProxy, error) {
	return cachedByID(ctx, "smart_proxy", id, func() (SmartProxy, error) { return s.loadSmartProxy(ctx, `id = $1`, id) })
}

// SmartProxyByName loads a proxy by name.
func (s *Store) SmartProxyByName(ctx context.Context, name string) (SmartProxy, error) {
	return s.loadSmartProxy(ctx, `name = $1`, name)
}

// SmartProxyByURL loads a proxy by URL.
func (s *Store) SmartProxyByURL(ctx context.Context, url string) (SmartProxy, error) {
	return s.loadSmartProxy(ctx, `url = $1`, url)
}

func (s *Store) loadSmartProxy(ctx context.Context, cond string, arg any) (SmartProxy, error) {
	var p SmartProxy
	err := s.queryRow(ctx, `SELECT id, name, url, created_at, updated_at,
		(SELECT COUNT(*) FROM host_infrastructure_facets hf WHERE hf.smart_proxy_id = smart_proxies.id)
		FROM smart_proxies WHERE `+cond, arg).Scan(&p.ID, &p.Name, &p.URL, &p.CreatedAt, &p.UpdatedAt, &p.HostsCount)
	if err != nil {
		return p, mapErr(err)
	}
	p.Features, err = s.proxyFeatures(ctx, p.ID)
	return p, err
}

func (s *Store) proxyFeatures(ctx context.Context, proxyID int64) ([]Feature, error) {
	rows, err := s.query(ctx, `SELECT f.id, f.name, pf.capabilities, pf.settings
		FROM proxy_features pf JOIN features f ON f.id = pf.feature_id
		WHERE pf.smart_proxy_id = $1 ORDER BY f.name`, proxyID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Feature{}
	for rows.Next() {
		var f Feature
		var caps, settings string
		if err := rows.Scan(&f.ID, &f.Name, &caps, &settings); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(caps), &f.Capabilities); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(settings), &f.Settings); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// CreateSmartProxy stores a proxy with its features in one transaction; p gets its id.
func (s *Store) CreateSmartProxy(ctx context.Context, p *SmartProxy) error {
	p.CreatedAt = now()
	p.UpdatedAt = p.CreatedAt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO smart_proxies (name, url, created_at, updated_at)
			VALUES ($1, $2, $3, $4) RETURNING id`, p.Name, p.URL, p.CreatedAt, p.UpdatedAt).Scan(&p.ID)
		if err != nil {
			return mapErr(err)
		}
		return s.replaceFeatures(ctx, tx, p)
	})
}

// UpdateSmartProxy saves name, url and, when p.Features is not nil, the features.
func (s *Store) UpdateSmartProxy(ctx context.Context, p *SmartProxy) error {
	p.UpdatedAt = now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE smart_proxies SET name = $1, url = $2, updated_at = $3 WHERE id = $4`,
			p.Name, p.URL, p.UpdatedAt, p.ID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if p.Features == nil {
			return nil
		}
		return s.replaceFeatures(ctx, tx, p)
	})
}

// replaceFeatures makes the stored features exactly p.Features (features no longer
// reported are deleted, §6.3) and fills in their ids.
func (s *Store) replaceFeatures(ctx context.Context, tx *sql.Tx, p *SmartProxy) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM proxy_features WHERE smart_proxy_id = $1`, p.ID); err != nil {
		return err
	}
	for i := range p.Features {
		f := &p.Features[i]
		id, err := featureID(ctx, tx, f.Name)
		if err != nil {
			return err
		}
		f.ID = id
		if f.Capabilities == nil {
			f.Capabilities = []string{}
		}
		if f.Settings == nil {
			f.Settings = map[string]any{}
		}
		caps, err := json.Marshal(f.Capabilities)
		if err != nil {
			return err
		}
		settings, err := json.Marshal(f.Settings)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO proxy_features (smart_proxy_id, feature_id, capabilities, settings)
			VALUES ($1, $2, $3, $4)`, p.ID, id, string(caps), string(settings)); err != nil {
			return err
		}
	}
	return nil
}

// featureID returns the id of a feature name, adding the name on first use.
func featureID(ctx context.Context, tx *sql.Tx, name string) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `SELECT id FROM features WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRowContext(ctx, `INSERT INTO features (name) VALUES ($1) RETURNING id`, name).Scan(&id)
	}
	return id, err
}

// SmartProxyUsedBy names what still refers to the proxy (destroy is refused then).
func (s *Store) SmartProxyUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `
		SELECT h.name FROM hosts h JOIN host_infrastructure_facets hf ON hf.host_id = h.id WHERE hf.smart_proxy_id = $1
		UNION SELECT name FROM subnets WHERE $1 IN (dhcp_id, tftp_id, dns_id, template_id, httpboot_id)
		UNION SELECT name FROM domains WHERE dns_id = $1
		ORDER BY 1`, id)
}

// DeleteSmartProxy deletes a proxy and its features.
func (s *Store) DeleteSmartProxy(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "smart_proxies", id)
}

// ProxyHost is a registered proxy as the certificate check sees it: the host of its URL.
type ProxyHost struct {
	ID   int64
	Name string
	Host string
}

// ProxyHosts lists the proxies having feature ("" = all) with their URL hosts.
func (s *Store) ProxyHosts(ctx context.Context, feature string) ([]ProxyHost, error) {
	rows, err := s.query(ctx, `SELECT p.id, p.name, p.url FROM smart_proxies p
		WHERE $1 = '' OR EXISTS (SELECT 1 FROM proxy_features pf JOIN features f ON f.id = pf.feature_id
			WHERE pf.smart_proxy_id = p.id AND f.name = $1)
		ORDER BY p.id`, feature)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ProxyHost
	for rows.Next() {
		var h ProxyHost
		var raw string
		if err := rows.Scan(&h.ID, &h.Name, &raw); err != nil {
			return nil, err
		}
		if u, err := url.Parse(raw); err == nil {
			h.Host = u.Hostname()
		}
		out = append(out, h)
	}
	return out, rows.Err()
}
