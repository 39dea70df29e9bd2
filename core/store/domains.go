package store

import (
	"context"
	"time"
)

// Domain is a DNS domain hosts live in; DNSID is the proxy that manages its records.
type Domain struct {
	ID                   int64
	Name                 string
	Fullname             string
	DNSID                *int64
	CreatedAt, UpdatedAt time.Time
}

var domainFields = map[string]field{
	"id":       {"id", intField},
	"name":     {"name", textField},
	"fullname": {"fullname", textField},
	"dns_id":   {"dns_id", intField},
}

const domainColumns = `id, name, fullname, dns_id, created_at, updated_at`

func scanDomain(row scanner) (Domain, error) {
	var d Domain
	err := row.Scan(&d.ID, &d.Name, &d.Fullname, &d.DNSID, &d.CreatedAt, &d.UpdatedAt)
	return d, mapErr(err)
}

// ListDomains returns one page of domains.
func (s *Store) ListDomains(ctx context.Context, opts ListOptions) (Counts, []Domain, error) {
	c, ids, err := s.listIDs(ctx, "domains", domainFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.Domain)
	return c, list, err
}

// Domain loads a domain by id.
func (s *Store) Domain(ctx context.Context, id int64) (Domain, error) {
	return cachedByID(ctx, "domain", id, func() (Domain, error) {
		return scanDomain(s.queryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE id = $1`, id))
	})
}

// DomainByName loads a domain by name.
func (s *Store) DomainByName(ctx context.Context, name string) (Domain, error) {
	return scanDomain(s.queryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE name = $1`, name))
}

// CreateDomain stores d; d gets its id.
func (s *Store) CreateDomain(ctx context.Context, d *Domain) error {
	d.CreatedAt = now()
	d.UpdatedAt = d.CreatedAt
	return mapErr(s.queryRow(ctx, `INSERT INTO domains (name, fullname, dns_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5) RETURNING id`, d.Name, d.Fullname, nullID(d.DNSID), d.CreatedAt, d.UpdatedAt).Scan(&d.ID))
}

// UpdateDomain saves d.
func (s *Store) UpdateDomain(ctx context.Context, d *Domain) error {
	d.UpdatedAt = now()
	return exec(ctx, s.db, `UPDATE domains SET name = $1, fullname = $2, dns_id = $3, updated_at = $4 WHERE id = $5`,
		d.Name, d.Fullname, nullID(d.DNSID), d.UpdatedAt, d.ID)
}

// DomainUsedBy names the hosts in the domain.
func (s *Store) DomainUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT name FROM hosts WHERE domain_id = $1 ORDER BY name`, id)
}

// DeleteDomain deletes a domain (its subnet links go with it).
func (s *Store) DeleteDomain(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "domains", id)
}
