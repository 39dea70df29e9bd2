package store

import (
	"context"
	"database/sql"
	"time"
)

// Subnet is an IPv4 network hosts get addresses in, and the proxies that serve it.
type Subnet struct {
	ID                       int64
	Name                     string
	Network, Mask, Gateway   string
	DNSPrimary, DNSSecondary string
	From, To                 string // IPAM range
	BootMode                 string // "DHCP" or "Static"
	IPAM                     string // "DHCP", "Internal DB", "Random DB", "EUI-64", "External IPAM", "None"
	DHCPID, TFTPID, DNSID    *int64
	TemplateID, HTTPBootID   *int64
	DomainIDs                []int64
	CreatedAt, UpdatedAt     time.Time
}

var subnetFields = map[string]field{
	"id":      {"id", intField},
	"name":    {"name", textField},
	"network": {"network", textField},
	"mask":    {"mask", textField},
	"gateway": {"gateway", textField},
	"dhcp_id": {"dhcp_id", intField},
	"tftp_id": {"tftp_id", intField},
	"dns_id":  {"dns_id", intField},
	"domain": {`(SELECT MIN(d.name) FROM subnet_domains sd JOIN domains d ON d.id = sd.domain_id
		WHERE sd.subnet_id = subnets.id)`, textField},
}

const subnetColumns = `id, name, network, mask, gateway, dns_primary, dns_secondary, from_ip, to_ip,
	boot_mode, ipam, dhcp_id, tftp_id, dns_id, template_id, httpboot_id, created_at, updated_at`

func (s *Store) loadSubnet(ctx context.Context, cond string, arg any) (Subnet, error) {
	var n Subnet
	err := s.queryRow(ctx, `SELECT `+subnetColumns+` FROM subnets WHERE `+cond, arg).Scan(
		&n.ID, &n.Name, &n.Network, &n.Mask, &n.Gateway, &n.DNSPrimary, &n.DNSSecondary, &n.From, &n.To,
		&n.BootMode, &n.IPAM, &n.DHCPID, &n.TFTPID, &n.DNSID, &n.TemplateID, &n.HTTPBootID, &n.CreatedAt, &n.UpdatedAt)
	if err != nil {
		return n, mapErr(err)
	}
	n.DomainIDs, err = s.linkIDs(ctx, "subnet_domains", "subnet_id", "domain_id", n.ID)
	return n, err
}

// ListSubnets returns one page of subnets.
func (s *Store) ListSubnets(ctx context.Context, opts ListOptions) (Counts, []Subnet, error) {
	c, ids, err := s.listIDs(ctx, "subnets", subnetFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.Subnet)
	return c, list, err
}

// Subnet loads a subnet by id.
func (s *Store) Subnet(ctx context.Context, id int64) (Subnet, error) {
	return cachedByID(ctx, "subnet", id, func() (Subnet, error) { return s.loadSubnet(ctx, `id = $1`, id) })
}

// SubnetByName loads a subnet by name.
func (s *Store) SubnetByName(ctx context.Context, name string) (Subnet, error) {
	return s.loadSubnet(ctx, `name = $1`, name)
}

// SubnetByNetwork finds the subnet with this network address (subnet import skips known ones).
func (s *Store) SubnetByNetwork(ctx context.Context, network string) (Subnet, error) {
	return s.loadSubnet(ctx, `network = $1`, network)
}

// CreateSubnet stores n with its domains; n gets its id.
func (s *Store) CreateSubnet(ctx context.Context, n *Subnet) error {
	n.CreatedAt = now()
	n.UpdatedAt = n.CreatedAt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO subnets (name, network, mask, gateway, dns_primary, dns_secondary,
			from_ip, to_ip, boot_mode, ipam, dhcp_id, tftp_id, dns_id, template_id, httpboot_id, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
			n.Name, n.Network, n.Mask, n.Gateway, n.DNSPrimary, n.DNSSecondary, n.From, n.To, n.BootMode, n.IPAM,
			nullID(n.DHCPID), nullID(n.TFTPID), nullID(n.DNSID), nullID(n.TemplateID), nullID(n.HTTPBootID),
			n.CreatedAt, n.UpdatedAt).Scan(&n.ID)
		if err != nil {
			return mapErr(err)
		}
		if n.DomainIDs == nil {
			n.DomainIDs = []int64{}
		}
		return replaceLinks(ctx, tx, "subnet_domains", "subnet_id", "domain_id", n.ID, n.DomainIDs)
	})
}

// UpdateSubnet saves n; DomainIDs nil keeps the domains.
func (s *Store) UpdateSubnet(ctx context.Context, n *Subnet) error {
	n.UpdatedAt = now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE subnets SET name = $1, network = $2, mask = $3, gateway = $4,
			dns_primary = $5, dns_secondary = $6, from_ip = $7, to_ip = $8, boot_mode = $9, ipam = $10,
			dhcp_id = $11, tftp_id = $12, dns_id = $13, template_id = $14, httpboot_id = $15, updated_at = $16
			WHERE id = $17`,
			n.Name, n.Network, n.Mask, n.Gateway, n.DNSPrimary, n.DNSSecondary, n.From, n.To, n.BootMode, n.IPAM,
			nullID(n.DHCPID), nullID(n.TFTPID), nullID(n.DNSID), nullID(n.TemplateID), nullID(n.HTTPBootID),
			n.UpdatedAt, n.ID)
		if err != nil {
			return mapErr(err)
		}
		return replaceLinks(ctx, tx, "subnet_domains", "subnet_id", "domain_id", n.ID, n.DomainIDs)
	})
}

// SubnetUsedBy names the hosts in the subnet.
func (s *Store) SubnetUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT name FROM hosts WHERE subnet_id = $1 ORDER BY name`, id)
}

// DeleteSubnet deletes a subnet and its domain links.
func (s *Store) DeleteSubnet(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "subnets", id)
}
