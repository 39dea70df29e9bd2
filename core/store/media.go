package store

import (
	"context"
	"database/sql"
	"strings"
	"time"
)

// Medium is an installation tree: Path is a URL where $major, $minor, $arch (and
// $version) are filled in per host (api does the expansion).
type Medium struct {
	ID                   int64
	Name                 string
	Path                 string
	OSFamily             string
	OperatingSystemIDs   []int64
	CreatedAt, UpdatedAt time.Time
}

var mediumFields = map[string]field{
	"id":        {"id", intField},
	"name":      {"name", textField},
	"path":      {"path", textField},
	"family":    {"os_family", textField},
	"os_family": {"os_family", textField},
}

func (s *Store) loadMedium(ctx context.Context, cond string, arg any) (Medium, error) {
	var m Medium
	err := s.queryRow(ctx, `SELECT id, name, path, os_family, created_at, updated_at FROM media WHERE `+cond, arg).Scan(
		&m.ID, &m.Name, &m.Path, &m.OSFamily, &m.CreatedAt, &m.UpdatedAt)
	if err != nil {
		return m, mapErr(err)
	}
	m.OperatingSystemIDs, err = s.linkIDs(ctx, "media_operatingsystems", "medium_id", "operatingsystem_id", m.ID)
	return m, err
}

// ListMedia returns one page of media.
func (s *Store) ListMedia(ctx context.Context, opts ListOptions) (Counts, []Medium, error) {
	c, ids, err := s.listIDs(ctx, "media", mediumFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.Medium)
	return c, list, err
}

// Medium loads a medium by id.
func (s *Store) Medium(ctx context.Context, id int64) (Medium, error) {
	return cachedByID(ctx, "medium", id, func() (Medium, error) { return s.loadMedium(ctx, `id = $1`, id) })
}

// MediumByName loads a medium by name.
func (s *Store) MediumByName(ctx context.Context, name string) (Medium, error) {
	return s.loadMedium(ctx, `name = $1`, name)
}

// CreateMedium stores m with its OS links; m gets its id.
func (s *Store) CreateMedium(ctx context.Context, m *Medium) error {
	m.CreatedAt = now()
	m.UpdatedAt = m.CreatedAt
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO media (name, path, os_family, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, m.Name, m.Path, m.OSFamily, m.CreatedAt, m.UpdatedAt).Scan(&m.ID)
		if err != nil {
			return mapErr(err)
		}
		if m.OperatingSystemIDs == nil {
			m.OperatingSystemIDs = []int64{}
		}
		return replaceLinks(ctx, tx, "media_operatingsystems", "medium_id", "operatingsystem_id", m.ID, m.OperatingSystemIDs)
	})
}

// UpdateMedium saves m; OperatingSystemIDs nil keeps the links.
func (s *Store) UpdateMedium(ctx context.Context, m *Medium) error {
	m.UpdatedAt = now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE media SET name = $1, path = $2, os_family = $3, updated_at = $4 WHERE id = $5`,
			m.Name, m.Path, m.OSFamily, m.UpdatedAt, m.ID)
		if err != nil {
			return mapErr(err)
		}
		return replaceLinks(ctx, tx, "media_operatingsystems", "medium_id", "operatingsystem_id", m.ID, m.OperatingSystemIDs)
	})
}

// MediumUsedBy names the hosts installing from the medium.
func (s *Store) MediumUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT name FROM hosts WHERE medium_id = $1 ORDER BY name`, id)
}

// DeleteMedium deletes a medium and its links.
func (s *Store) DeleteMedium(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "media", id)
}

// URLFor expands the medium's path for an OS and architecture as Foreman does:
// $arch, $major, $minor, $version (major[.minor]) and $release, also as ${name}.
func (m Medium) URLFor(os OperatingSystem, arch string) string {
	version := os.Major
	if os.Minor != "" {
		version += "." + os.Minor
	}
	vars := map[string]string{"arch": arch, "major": os.Major, "minor": os.Minor, "version": version, "release": os.ReleaseName}
	var pairs []string
	// Longer names first so $version is not read as $v + "ersion" by a shorter key.
	for _, k := range []string{"version", "release", "major", "minor", "arch"} {
		pairs = append(pairs, "${"+k+"}", vars[k], "$"+k, vars[k])
	}
	return strings.NewReplacer(pairs...).Replace(m.Path)
}
