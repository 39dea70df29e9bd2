package store

import (
	"context"
	"database/sql"
	"time"
)

// Host is a machine the core manages. In this issue hosts are stored only; the next one
// orchestrates DNS, DHCP and TFTP around the same rows.
type Host struct {
	ID                int64
	Name              string // FQDN
	Certname          string // Puppet certname when it differs from Name ("" = Name)
	DomainID          *int64
	SubnetID          *int64
	MAC, IP           string
	ArchitectureID    *int64
	OperatingSystemID *int64
	MediumID          *int64
	PXELoader         string
	Build             bool
	Parameters        []Parameter
	// Infrastructure is set when the host runs a smart proxy or Foreman itself
	// (foreman-clients.md §3: the installer's foreman_smartproxy_host); nil otherwise.
	Infrastructure       *InfrastructureFacet
	CreatedAt, UpdatedAt time.Time
}

// Parameter is a host parameter (a name/value pair templates and the ENC read).
type Parameter struct {
	ID    int64
	Name  string
	Value string
}

// InfrastructureFacet says the host is a Foreman instance or the host of a smart proxy.
type InfrastructureFacet struct {
	ForemanInstance bool
	SmartProxyID    *int64
}

var hostFields = map[string]field{
	"id":              {"id", intField},
	"name":            {"name", textField},
	"certname":        {"certname", textField},
	"mac":             {"mac", textField},
	"ip":              {"ip", textField},
	"build":           {"build", boolField},
	"pxe_loader":      {"pxe_loader", textField},
	"domain_id":       {"domain_id", intField},
	"subnet_id":       {"subnet_id", intField},
	"domain":          {"(SELECT d.name FROM domains d WHERE d.id = hosts.domain_id)", textField},
	"subnet":          {"(SELECT n.name FROM subnets n WHERE n.id = hosts.subnet_id)", textField},
	"architecture":    {"(SELECT a.name FROM architectures a WHERE a.id = hosts.architecture_id)", textField},
	"medium":          {"(SELECT m.name FROM media m WHERE m.id = hosts.medium_id)", textField},
	"os":              {"(SELECT o.name FROM operatingsystems o WHERE o.id = hosts.operatingsystem_id)", textField},
	"smart_proxy_id":  {"(SELECT hf.smart_proxy_id FROM host_infrastructure_facets hf WHERE hf.host_id = hosts.id)", intField},
	"operatingsystem": {"(SELECT o.name FROM operatingsystems o WHERE o.id = hosts.operatingsystem_id)", textField},
}

const hostColumns = `id, name, certname, domain_id, subnet_id, mac, ip, architecture_id, operatingsystem_id,
	medium_id, pxe_loader, build, created_at, updated_at`

func scanHost(row scanner) (Host, error) {
	var h Host
	err := row.Scan(&h.ID, &h.Name, &h.Certname, &h.DomainID, &h.SubnetID, &h.MAC, &h.IP, &h.ArchitectureID,
		&h.OperatingSystemID, &h.MediumID, &h.PXELoader, &h.Build, &h.CreatedAt, &h.UpdatedAt)
	return h, mapErr(err)
}

func (s *Store) loadHost(ctx context.Context, cond string, arg any) (Host, error) {
	h, err := scanHost(s.queryRow(ctx, `SELECT `+hostColumns+` FROM hosts WHERE `+cond, arg))
	if err != nil {
		return h, err
	}
	if h.Parameters, err = s.Parameters(ctx, HostScope, h.ID); err != nil {
		return h, err
	}
	var f InfrastructureFacet
	err = s.queryRow(ctx, `SELECT foreman_instance, smart_proxy_id FROM host_infrastructure_facets
		WHERE host_id = $1`, h.ID).Scan(&f.ForemanInstance, &f.SmartProxyID)
	switch err {
	case nil:
		h.Infrastructure = &f
	case sql.ErrNoRows:
	default:
		return h, err
	}
	return h, nil
}

// hostsByID loads the hosts of ids, in that order, with three queries (rows,
// parameters, facets) instead of three per host: an index page is three round trips.
// A host deleted meanwhile is left out.
func (s *Store) hostsByID(ctx context.Context, ids []int64) ([]Host, error) {
	out := []Host{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inList(ids)
	byID := map[int64]*Host{}
	err := s.each(ctx, `SELECT `+hostColumns+` FROM hosts WHERE id IN (`+in+`)`, args, func(rows *sql.Rows) error {
		h, err := scanHost(rows)
		if err == nil {
			h.Parameters = []Parameter{}
			byID[h.ID] = &h
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = s.each(ctx, `SELECT host_id, id, name, value FROM host_parameters WHERE host_id IN (`+in+`) ORDER BY name`, args, func(rows *sql.Rows) error {
		var hostID int64
		var p Parameter
		if err := rows.Scan(&hostID, &p.ID, &p.Name, &p.Value); err != nil {
			return err
		}
		if h := byID[hostID]; h != nil {
			h.Parameters = append(h.Parameters, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.each(ctx, `SELECT host_id, foreman_instance, smart_proxy_id FROM host_infrastructure_facets WHERE host_id IN (`+in+`)`, args, func(rows *sql.Rows) error {
		var hostID int64
		var f InfrastructureFacet
		if err := rows.Scan(&hostID, &f.ForemanInstance, &f.SmartProxyID); err != nil {
			return err
		}
		if h := byID[hostID]; h != nil {
			h.Infrastructure = &f
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if h := byID[id]; h != nil {
			out = append(out, *h)
		}
	}
	return out, nil
}

// ListHosts returns one page of hosts.
func (s *Store) ListHosts(ctx context.Context, opts ListOptions) (Counts, []Host, error) {
	c, ids, err := s.listIDs(ctx, "hosts", hostFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := s.hostsByID(ctx, ids)
	return c, list, err
}

// Host loads a host by id.
func (s *Store) Host(ctx context.Context, id int64) (Host, error) {
	return s.loadHost(ctx, `id = $1`, id)
}

// HostByName loads a host by name.
func (s *Store) HostByName(ctx context.Context, name string) (Host, error) {
	return s.loadHost(ctx, `name = $1`, name)
}

// CreateHost stores h with its parameters and facet; h gets its id.
func (s *Store) CreateHost(ctx context.Context, h *Host) error {
	h.CreatedAt = now()
	h.UpdatedAt = h.CreatedAt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO hosts (name, certname, domain_id, subnet_id, mac, ip, architecture_id,
			operatingsystem_id, medium_id, pxe_loader, build, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
			h.Name, h.Certname, nullID(h.DomainID), nullID(h.SubnetID), h.MAC, h.IP, nullID(h.ArchitectureID),
			nullID(h.OperatingSystemID), nullID(h.MediumID), h.PXELoader, h.Build, h.CreatedAt, h.UpdatedAt).Scan(&h.ID)
		if err != nil {
			return mapErr(err)
		}
		if h.Parameters == nil {
			h.Parameters = []Parameter{}
		}
		if err := replaceParameters(ctx, tx, h); err != nil {
			return err
		}
		return saveFacet(ctx, tx, h.ID, h.Infrastructure)
	})
}

// UpdateHost saves h; Parameters nil keeps the parameters, Infrastructure nil keeps the facet.
func (s *Store) UpdateHost(ctx context.Context, h *Host) error {
	h.UpdatedAt = now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := writeHostRow(ctx, tx, h); err != nil {
			return err
		}
		if err := replaceParameters(ctx, tx, h); err != nil {
			return err
		}
		return saveFacet(ctx, tx, h.ID, h.Infrastructure)
	})
}

// writeHostRow writes h's columns (updated_at included) over its row.
func writeHostRow(ctx context.Context, tx *sql.Tx, h *Host) error {
	res, err := tx.ExecContext(ctx, `UPDATE hosts SET name = $1, certname = $2, domain_id = $3, subnet_id = $4, mac = $5,
		ip = $6, architecture_id = $7, operatingsystem_id = $8, medium_id = $9, pxe_loader = $10, build = $11,
		updated_at = $12 WHERE id = $13`,
		h.Name, h.Certname, nullID(h.DomainID), nullID(h.SubnetID), h.MAC, h.IP, nullID(h.ArchitectureID),
		nullID(h.OperatingSystemID), nullID(h.MediumID), h.PXELoader, h.Build, h.UpdatedAt, h.ID)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RestoreHost writes h back exactly as it was loaded (by Host or HostByName): the row
// with its updated_at, its parameters (nil = none) and its infrastructure facet (nil =
// none). It undoes a failed update, which must leave the host as it was.
func (s *Store) RestoreHost(ctx context.Context, h Host) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := writeHostRow(ctx, tx, &h); err != nil {
			return err
		}
		// The parameters go back with their ids, so the host reads as it did.
		if err := exec(ctx, tx, `DELETE FROM host_parameters WHERE host_id = $1`, h.ID); err != nil {
			return err
		}
		for _, p := range h.Parameters {
			err := exec(ctx, tx, `INSERT INTO host_parameters (id, host_id, name, value) VALUES ($1, $2, $3, $4)`,
				p.ID, h.ID, p.Name, p.Value)
			if err != nil {
				return err
			}
		}
		if h.Infrastructure == nil {
			return exec(ctx, tx, `DELETE FROM host_infrastructure_facets WHERE host_id = $1`, h.ID)
		}
		return saveFacet(ctx, tx, h.ID, h.Infrastructure)
	})
}

// SetInfrastructureFacet records that a host runs a smart proxy (PUT
// /api/v2/smart_proxies/:pid/hosts/:hid). changed is false when it already did.
func (s *Store) SetInfrastructureFacet(ctx context.Context, hostID int64, f InfrastructureFacet) (changed bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var old InfrastructureFacet
		err := tx.QueryRowContext(ctx, `SELECT foreman_instance, smart_proxy_id FROM host_infrastructure_facets
			WHERE host_id = $1`, hostID).Scan(&old.ForemanInstance, &old.SmartProxyID)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		changed = err == sql.ErrNoRows || old.ForemanInstance != f.ForemanInstance || !sameID(old.SmartProxyID, f.SmartProxyID)
		if !changed {
			return nil
		}
		return saveFacet(ctx, tx, hostID, &f)
	})
	return changed, err
}

func sameID(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

func saveFacet(ctx context.Context, tx *sql.Tx, hostID int64, f *InfrastructureFacet) error {
	if f == nil {
		return nil
	}
	return exec(ctx, tx, `INSERT INTO host_infrastructure_facets (host_id, foreman_instance, smart_proxy_id)
		VALUES ($1, $2, $3) ON CONFLICT (host_id) DO UPDATE
		SET foreman_instance = excluded.foreman_instance, smart_proxy_id = excluded.smart_proxy_id`,
		hostID, f.ForemanInstance, nullID(f.SmartProxyID))
}

func replaceParameters(ctx context.Context, tx *sql.Tx, h *Host) error {
	if h.Parameters == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM host_parameters WHERE host_id = $1`, h.ID); err != nil {
		return err
	}
	for i := range h.Parameters {
		p := &h.Parameters[i]
		err := tx.QueryRowContext(ctx, `INSERT INTO host_parameters (host_id, name, value) VALUES ($1, $2, $3) RETURNING id`,
			h.ID, p.Name, p.Value).Scan(&p.ID)
		if err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// DeleteHost deletes a host with its parameters, facet and facts.
func (s *Store) DeleteHost(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "hosts", id)
}

// HostByCertname loads the host whose Puppet certname is certname (a certname equal to
// the name is stored empty, so that is a name lookup).
func (s *Store) HostByCertname(ctx context.Context, certname string) (Host, error) {
	h, err := s.loadHost(ctx, `certname = $1`, certname)
	if err == ErrNotFound {
		return s.loadHost(ctx, `name = $1 AND certname = ''`, certname)
	}
	return h, err
}
