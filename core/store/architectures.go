package store

import (
	"context"
	"time"
)

// Architecture is a CPU architecture ("x86_64", "aarch64").
type Architecture struct {
	ID                   int64
	Name                 string
	CreatedAt, UpdatedAt time.Time
}

var architectureFields = map[string]field{
	"id":   {"id", intField},
	"name": {"name", textField},
}

func scanArchitecture(row scanner) (Architecture, error) {
	var a Architecture
	err := row.Scan(&a.ID, &a.Name, &a.CreatedAt, &a.UpdatedAt)
	return a, mapErr(err)
}

// ListArchitectures returns one page of architectures.
func (s *Store) ListArchitectures(ctx context.Context, opts ListOptions) (Counts, []Architecture, error) {
	c, ids, err := s.listIDs(ctx, "architectures", architectureFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.Architecture)
	return c, list, err
}

// Architecture loads an architecture by id.
func (s *Store) Architecture(ctx context.Context, id int64) (Architecture, error) {
	return cachedByID(ctx, "architecture", id, func() (Architecture, error) {
		return scanArchitecture(s.queryRow(ctx, `SELECT id, name, created_at, updated_at FROM architectures WHERE id = $1`, id))
	})
}

// ArchitectureByName loads an architecture by name.
func (s *Store) ArchitectureByName(ctx context.Context, name string) (Architecture, error) {
	return scanArchitecture(s.queryRow(ctx, `SELECT id, name, created_at, updated_at FROM architectures WHERE name = $1`, name))
}

// CreateArchitecture stores a; a gets its id.
func (s *Store) CreateArchitecture(ctx context.Context, a *Architecture) error {
	a.CreatedAt = now()
	a.UpdatedAt = a.CreatedAt
	return mapErr(s.queryRow(ctx, `INSERT INTO architectures (name, created_at, updated_at)
		VALUES ($1, $2, $3) RETURNING id`, a.Name, a.CreatedAt, a.UpdatedAt).Scan(&a.ID))
}

// UpdateArchitecture saves a.
func (s *Store) UpdateArchitecture(ctx context.Context, a *Architecture) error {
	a.UpdatedAt = now()
	return exec(ctx, s.db, `UPDATE architectures SET name = $1, updated_at = $2 WHERE id = $3`, a.Name, a.UpdatedAt, a.ID)
}

// ArchitectureUsedBy names the hosts of the architecture.
func (s *Store) ArchitectureUsedBy(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT name FROM hosts WHERE architecture_id = $1 ORDER BY name`, id)
}

// DeleteArchitecture deletes an architecture.
func (s *Store) DeleteArchitecture(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "architectures", id)
}
