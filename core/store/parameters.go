package store

import (
	"context"
	"fmt"
	"sort"
)

// ParameterScope is one level of Foreman's parameter inheritance. A host sees the
// parameters of every level, a later level overriding an earlier one by name:
// global (common) → its domain → its subnet → its operating system → the host itself.
type ParameterScope struct {
	Name     string // "common", "domain", "subnet", "operatingsystem", "host"
	table    string
	ownerCol string // "" for the global level
}

// The levels, in the order a host inherits them.
var (
	CommonScope          = ParameterScope{"common", "common_parameters", ""}
	DomainScope          = ParameterScope{"domain", "domain_parameters", "domain_id"}
	SubnetScope          = ParameterScope{"subnet", "subnet_parameters", "subnet_id"}
	OperatingSystemScope = ParameterScope{"operatingsystem", "operatingsystem_parameters", "operatingsystem_id"}
	HostScope            = ParameterScope{"host", "host_parameters", "host_id"}
)

// ownerCond is the WHERE part selecting owner's rows; args start at $n.
func (sc ParameterScope) ownerCond(owner int64, n int) (string, []any) {
	if sc.ownerCol == "" {
		return "TRUE", nil
	}
	return fmt.Sprintf("%s = $%d", sc.ownerCol, n), []any{owner}
}

// Parameters lists the parameters of one owner at one level (owner ignored for common), by name.
func (s *Store) Parameters(ctx context.Context, sc ParameterScope, owner int64) ([]Parameter, error) {
	cond, args := sc.ownerCond(owner, 1)
	rows, err := s.query(ctx, `SELECT id, name, value FROM `+sc.table+` WHERE `+cond+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Parameter{}
	for rows.Next() {
		var p Parameter
		if err := rows.Scan(&p.ID, &p.Name, &p.Value); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ScopedParameter loads one parameter of owner by id.
func (s *Store) ScopedParameter(ctx context.Context, sc ParameterScope, owner, id int64) (Parameter, error) {
	cond, args := sc.ownerCond(owner, 2)
	var p Parameter
	err := s.queryRow(ctx, `SELECT id, name, value FROM `+sc.table+` WHERE id = $1 AND `+cond,
		append([]any{id}, args...)...).Scan(&p.ID, &p.Name, &p.Value)
	return p, mapErr(err)
}

// CreateParameter adds p to owner; p gets its id. A name owner already has is a *ConflictError.
func (s *Store) CreateParameter(ctx context.Context, sc ParameterScope, owner int64, p *Parameter) error {
	if sc.ownerCol == "" {
		return mapErr(s.queryRow(ctx, `INSERT INTO `+sc.table+` (name, value) VALUES ($1, $2) RETURNING id`,
			p.Name, p.Value).Scan(&p.ID))
	}
	err := s.queryRow(ctx, `INSERT INTO `+sc.table+` (`+sc.ownerCol+`, name, value) VALUES ($1, $2, $3) RETURNING id`,
		owner, p.Name, p.Value).Scan(&p.ID)
	return nameConflict(mapErr(err))
}

// UpdateParameter saves p's name and value.
func (s *Store) UpdateParameter(ctx context.Context, sc ParameterScope, owner int64, p Parameter) error {
	cond, args := sc.ownerCond(owner, 4)
	res, err := s.db.ExecContext(ctx, `UPDATE `+sc.table+` SET name = $1, value = $2 WHERE id = $3 AND `+cond,
		append([]any{p.Name, p.Value, p.ID}, args...)...)
	if err != nil {
		return nameConflict(mapErr(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteParameter removes one parameter of owner.
func (s *Store) DeleteParameter(ctx context.Context, sc ParameterScope, owner, id int64) error {
	cond, args := sc.ownerCond(owner, 2)
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+sc.table+` WHERE id = $1 AND `+cond, append([]any{id}, args...)...)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// nameConflict reports a (owner, name) unique violation as the name being taken, on
// both databases (SQLite names the first column of the constraint).
func nameConflict(err error) error {
	if _, ok := err.(*ConflictError); ok {
		return &ConflictError{Field: "name"}
	}
	return err
}

// InheritedParameter is a parameter as a host sees it, with the level it came from.
type InheritedParameter struct {
	Name, Value string
	Scope       string
}

// InheritedParameters resolves the parameters of h: every level in order (global,
// domain, subnet, operating system, host), a later level replacing an earlier value of
// the same name. Sorted by name.
func (s *Store) InheritedParameters(ctx context.Context, h Host) ([]InheritedParameter, error) {
	levels := []struct {
		sc    ParameterScope
		owner *int64
	}{{CommonScope, new(int64)}, {DomainScope, h.DomainID}, {SubnetScope, h.SubnetID},
		{OperatingSystemScope, h.OperatingSystemID}, {HostScope, &h.ID}}
	byName := map[string]int{}
	var out []InheritedParameter
	for _, l := range levels {
		if l.owner == nil {
			continue
		}
		params, err := s.Parameters(ctx, l.sc, *l.owner)
		if err != nil {
			return nil, err
		}
		for _, p := range params {
			ip := InheritedParameter{Name: p.Name, Value: p.Value, Scope: l.sc.Name}
			if i, ok := byName[p.Name]; ok {
				out[i] = ip
				continue
			}
			byName[p.Name] = len(out)
			out = append(out, ip)
		}
	}
	sortInherited(out)
	return out, nil
}

func sortInherited(list []InheritedParameter) {
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
}
