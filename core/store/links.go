package store

import (
	"context"
	"database/sql"
	"fmt"
)

// Many-to-many links (subnet_domains, operatingsystem_architectures,
// media_operatingsystems) are written and read the same way: a whole list at a time.

// replaceLinks makes the links of owner exactly ids; nil leaves them as they are.
func replaceLinks(ctx context.Context, tx *sql.Tx, table, ownerCol, otherCol string, owner int64, ids []int64) error {
	if ids == nil {
		return nil
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s = $1`, table, ownerCol), owner); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s (%s, %s) VALUES ($1, $2)`, table, ownerCol, otherCol), owner, id); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// linkIDs lists the ids linked to owner, ascending.
func (s *Store) linkIDs(ctx context.Context, table, ownerCol, otherCol string, owner int64) ([]int64, error) {
	rows, err := s.query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s = $1 ORDER BY 1`, otherCol, table, ownerCol), owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
