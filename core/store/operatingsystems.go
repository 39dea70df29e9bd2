package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// OperatingSystem is an OS release hosts install: family ("Redhat", "Debian") drives the
// templates, PXELoaders lists the loaders hosts of this OS may use.
type OperatingSystem struct {
	ID                   int64
	Name                 string
	Major, Minor         string
	Family               string
	ReleaseName          string
	Description          string
	PXELoaders           []string
	ArchitectureIDs      []int64
	CreatedAt, UpdatedAt time.Time
}

// Title is how Foreman names an OS: its description, else "Name Major.Minor".
func (o OperatingSystem) Title() string {
	if o.Description != "" {
		return o.Description
	}
	t := o.Name + " " + o.Major
	if o.Minor != "" {
		t += "." + o.Minor
	}
	return t
}

var operatingSystemFields = map[string]field{
	"id":     {"id", intField},
	"name":   {"name", textField},
	"major":  {"major", textField},
	"minor":  {"minor", textField},
	"family": {"family", textField},
	"title":  {"description", textField},
}

func (s *Store) loadOperatingSystem(ctx context.Context, cond string, args ...any) (OperatingSystem, error) {
	var o OperatingSystem
	var loaders string
	err := s.queryRow(ctx, `SELECT id, name, major, minor, family, release_name, description, pxe_loaders,
		created_at, updated_at FROM operatingsystems WHERE `+cond, args...).Scan(
		&o.ID, &o.Name, &o.Major, &o.Minor, &o.Family, &o.ReleaseName, &o.Description, &loaders, &o.CreatedAt, &o.UpdatedAt)
	if err != nil {
		return o, mapErr(err)
	}
	if err := json.Unmarshal([]byte(loaders), &o.PXELoaders); err != nil {
		return o, err
	}
	o.ArchitectureIDs, err = s.linkIDs(ctx, "operatingsystem_architectures", "operatingsystem_id", "architecture_id", o.ID)
	return o, err
}

// ListOperatingSystems returns one page of operating systems.
func (s *Store) ListOperatingSystems(ctx context.Context, opts ListOptions) (Counts, []OperatingSystem, error) {
	c, ids, err := s.listIDs(ctx, "operatingsystems", operatingSystemFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.OperatingSystem)
	return c, list, err
}

// OperatingSystem loads an OS by id.
func (s *Store) OperatingSystem(ctx context.Context, id int64) (OperatingSystem, error) {
	return cachedByID(ctx, "os", id, func() (OperatingSystem, error) { return s.loadOperatingSystem(ctx, `id = $1`, id) })
}

// OperatingSystemByTitle loads an OS by its title (description or "Name Major.Minor").
func (s *Store) OperatingSystemByTitle(ctx context.Context, title string) (OperatingSystem, error) {
	return s.loadOperatingSystem(ctx, `description = $1 OR (description = '' AND
		name || ' ' || major || CASE WHEN minor = '' THEN '' ELSE '.' || minor END = $1)`, title)
}

// CreateOperatingSystem stores o with its architectures; o gets its id.
func (s *Store) CreateOperatingSystem(ctx context.Context, o *OperatingSystem) error {
	o.CreatedAt = now()
	o.UpdatedAt = o.CreatedAt
	loaders, err := jsonList(o.PXELoaders)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO operatingsystems (name, major, minor, family, release_name, description,
			pxe_loaders, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
			o.Name, o.Major, o.Minor, o.Family, o.ReleaseName, o.Description, loaders, o.CreatedAt, o.UpdatedAt).Scan(&o.ID)
		if err != nil {
			return mapErr(err)
		}
		if o.ArchitectureIDs == nil {
			o.ArchitectureIDs = []int64{}
		}
		return replaceLinks(ctx, tx, "operatingsystem_architectures", "operatingsystem_id", "architecture_id", o.ID, o.ArchitectureIDs)
	})
}

// UpdateOperatingSystem saves o; ArchitectureIDs nil keeps the links.
func (s *Store) UpdateOperatingSystem(ctx context.Context, o *OperatingSystem) error {
	o.UpdatedAt = now()
	loaders, err := jsonList(o.PXELoaders)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE operatingsystems SET name = $1, major = $2, minor = $3, family = $4,
			release_name = $5, description = $6, pxe_loaders = $7, updated_at = $8 WHERE id = $9`,
			o.Name, o.Major, o.Minor, o.Family, o.ReleaseName, o.Description, loaders, o.UpdatedAt, o.ID)
		if err != nil {
			return mapErr(err)
		}
		return replaceLinks(ctx, tx, "operatingsystem_architectures", "operatingsystem_id", "architecture_id", o.ID, o.ArchitectureIDs)
	})
}

// OperatingSystemUsedBy names the hosts of the OS.
func (s *Store) OperatingSystemUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT name FROM hosts WHERE operatingsystem_id = $1 ORDER BY name`, id)
}

// DeleteOperatingSystem deletes an OS and its links.
func (s *Store) DeleteOperatingSystem(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "operatingsystems", id)
}

func jsonList(l []string) (string, error) {
	if l == nil {
		l = []string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}
