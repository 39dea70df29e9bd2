package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"
	"time"
)

// PuppetClass is a Puppet class hosts can be given (by id or name).
type PuppetClass struct {
	ID                   int64
	Name                 string
	CreatedAt, UpdatedAt time.Time
}

// HostClass is a class of a host with the class parameter values the ENC passes
// (a JSON object; "{}" = none, and the ENC then gives the class no parameters).
type HostClass struct {
	PuppetClass
	Parameters json.RawMessage
}

var puppetClassFields = map[string]field{
	"id":   {"id", intField},
	"name": {"name", textField},
}

// ListPuppetClasses returns one page of classes.
func (s *Store) ListPuppetClasses(ctx context.Context, opts ListOptions) (Counts, []PuppetClass, error) {
	c, ids, err := s.listIDs(ctx, "puppetclasses", puppetClassFields, opts)
	if err != nil {
		return c, nil, err
	}
	list, err := loadAll(ctx, ids, s.PuppetClass)
	return c, list, err
}

// PuppetClass loads a class by id.
func (s *Store) PuppetClass(ctx context.Context, id int64) (PuppetClass, error) {
	return s.loadPuppetClass(ctx, `id = $1`, id)
}

// PuppetClassByName loads a class by name.
func (s *Store) PuppetClassByName(ctx context.Context, name string) (PuppetClass, error) {
	return s.loadPuppetClass(ctx, `name = $1`, name)
}

func (s *Store) loadPuppetClass(ctx context.Context, cond string, arg any) (PuppetClass, error) {
	var pc PuppetClass
	err := s.queryRow(ctx, `SELECT id, name, created_at, updated_at FROM puppetclasses WHERE `+cond, arg).
		Scan(&pc.ID, &pc.Name, &pc.CreatedAt, &pc.UpdatedAt)
	return pc, mapErr(err)
}

// CreatePuppetClass stores pc; pc gets its id.
func (s *Store) CreatePuppetClass(ctx context.Context, pc *PuppetClass) error {
	pc.CreatedAt = now()
	pc.UpdatedAt = pc.CreatedAt
	return mapErr(s.queryRow(ctx, `INSERT INTO puppetclasses (name, created_at, updated_at) VALUES ($1, $2, $3) RETURNING id`,
		pc.Name, pc.CreatedAt, pc.UpdatedAt).Scan(&pc.ID))
}

// EnsurePuppetClass returns the class named name, creating it when missing.
func (s *Store) EnsurePuppetClass(ctx context.Context, name string) (PuppetClass, error) {
	pc, err := s.PuppetClassByName(ctx, name)
	if !errors.Is(err, ErrNotFound) {
		return pc, err
	}
	pc = PuppetClass{Name: name}
	err = s.CreatePuppetClass(ctx, &pc)
	var conflict *ConflictError
	if errors.As(err, &conflict) { // created meanwhile
		return s.PuppetClassByName(ctx, name)
	}
	return pc, err
}

// PuppetClassUsers names the hosts that have the class (a class in use is not deleted).
func (s *Store) PuppetClassUsers(ctx context.Context, id int64) ([]string, error) {
	return s.namesOf(ctx, `SELECT h.name FROM hosts h JOIN host_puppetclasses hp ON hp.host_id = h.id
		WHERE hp.puppetclass_id = $1 ORDER BY h.name`, id)
}

// DeletePuppetClass deletes a class no host has.
func (s *Store) DeletePuppetClass(ctx context.Context, id int64) error {
	return s.deleteByID(ctx, "puppetclasses", id)
}

// HostClasses lists the classes of a host, by name.
func (s *Store) HostClasses(ctx context.Context, hostID int64) ([]HostClass, error) {
	rows, err := s.query(ctx, `SELECT c.id, c.name, c.created_at, c.updated_at, hp.parameters
		FROM host_puppetclasses hp JOIN puppetclasses c ON c.id = hp.puppetclass_id WHERE hp.host_id = $1`, hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []HostClass{}
	for rows.Next() {
		var hc HostClass
		var params string
		if err := rows.Scan(&hc.ID, &hc.Name, &hc.CreatedAt, &hc.UpdatedAt, &params); err != nil {
			return nil, err
		}
		hc.Parameters = json.RawMessage(params)
		out = append(out, hc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, rows.Err()
}

// SetHostClasses makes the classes of a host exactly classes (by class id).
func (s *Store) SetHostClasses(ctx context.Context, hostID int64, classes []HostClass) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM host_puppetclasses WHERE host_id = $1`, hostID); err != nil {
			return err
		}
		for _, hc := range classes {
			if err := addHostClass(ctx, tx, hostID, hc); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddHostClass gives a host one more class (a class it has already is a *ConflictError).
func (s *Store) AddHostClass(ctx context.Context, hostID int64, hc HostClass) error {
	return addHostClass(ctx, s.db, hostID, hc)
}

func addHostClass(ctx context.Context, q execer, hostID int64, hc HostClass) error {
	params := string(hc.Parameters)
	if params == "" || params == "null" {
		params = "{}"
	}
	err := exec(ctx, q, `INSERT INTO host_puppetclasses (host_id, puppetclass_id, parameters) VALUES ($1, $2, $3)`,
		hostID, hc.ID, params)
	if _, ok := err.(*ConflictError); ok {
		return &ConflictError{Field: "puppetclass_id"}
	}
	return err
}

// RemoveHostClass takes a class from a host; ErrNotFound if it did not have it.
func (s *Store) RemoveHostClass(ctx context.Context, hostID, classID int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM host_puppetclasses WHERE host_id = $1 AND puppetclass_id = $2`, hostID, classID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// HostEnvironment is the Puppet environment set on a host ("" = none set).
func (s *Store) HostEnvironment(ctx context.Context, hostID int64) (string, error) {
	var env string
	err := s.queryRow(ctx, `SELECT environment FROM host_puppet_facets WHERE host_id = $1`, hostID).Scan(&env)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return env, err
}

// SetHostEnvironment sets the Puppet environment of a host.
func (s *Store) SetHostEnvironment(ctx context.Context, hostID int64, env string) error {
	return exec(ctx, s.db, `INSERT INTO host_puppet_facets (host_id, environment) VALUES ($1, $2)
		ON CONFLICT (host_id) DO UPDATE SET environment = excluded.environment`, hostID, env)
}
