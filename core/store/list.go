package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/smartproxy/smartproxy/core/search"
)

// ListOptions selects one page of an index.
type ListOptions struct {
	Search  search.Expr // nil: every row
	Page    int         // from 1
	PerPage int
	OrderBy string // a searchable field; "" = by name (id for tables without one)
	Desc    bool
}

// Counts are the index's totals: every row, and the rows matching the search.
type Counts struct{ Total, Subtotal int }

// field is a searchable column: the SQL expression and whether it holds numbers or
// booleans (compared exactly) or text.
type field struct {
	expr string
	kind fieldKind
}

type fieldKind int

const (
	textField fieldKind = iota
	intField
	boolField
)

// SearchError is a search naming an unknown field or a value of the wrong kind.
type SearchError struct{ Msg string }

func (e *SearchError) Error() string { return e.Msg }

// where turns a parsed search into a WHERE clause over fields; free text matches "name".
func where(e search.Expr, fields map[string]field) (string, []any, error) {
	if e == nil {
		return "", nil, nil
	}
	var args []any
	cond, err := compile(e, fields, &args)
	if err != nil {
		return "", nil, err
	}
	return " WHERE " + cond, args, nil
}

// compile writes e as SQL, appending its values to args ($1, $2, … in order).
func compile(e search.Expr, fields map[string]field, args *[]any) (string, error) {
	switch e := e.(type) {
	case search.Condition:
		return condition(e, fields, args)
	case search.In:
		return inValues(e, fields, args)
	case search.Presence:
		return presence(e, fields)
	case search.And:
		return join(e, " AND ", fields, args)
	case search.Or:
		return join(e, " OR ", fields, args)
	case search.Not:
		x, err := compile(e.X, fields, args)
		if err != nil {
			return "", err
		}
		// A condition on a NULL column is NULL, which WHERE reads as false; NOT NULL
		// is NULL too, so "not (os = x)" would drop hosts without an OS. COALESCE
		// makes not the exact complement.
		return "NOT COALESCE((" + x + "), FALSE)", nil
	}
	return "", fmt.Errorf("search: unknown expression %T", e)
}

func join(list []search.Expr, op string, fields map[string]field, args *[]any) (string, error) {
	parts := make([]string, len(list))
	for i, x := range list {
		sql, err := compile(x, fields, args)
		if err != nil {
			return "", err
		}
		parts[i] = "(" + sql + ")"
	}
	return strings.Join(parts, op), nil
}

// condition is one field OP value; the value is checked against the field's kind.
func condition(c search.Condition, fields map[string]field, args *[]any) (string, error) {
	name := c.Field
	if name == "" {
		name = "name"
	}
	f, err := lookupField(fields, name)
	if err != nil {
		return "", err
	}
	value, err := typedValue(f, name, c.Value)
	if err != nil {
		return "", err
	}
	n := len(*args) + 1
	var sql string
	switch {
	case c.Op == "=":
		sql = fmt.Sprintf("%s = $%d", f.expr, n)
	case c.Op == "!=":
		sql = fmt.Sprintf("(%s IS NULL OR %s <> $%d)", f.expr, f.expr, n)
	case (c.Op == "<" || c.Op == ">" || c.Op == "<=" || c.Op == ">=") && f.kind == intField:
		sql = fmt.Sprintf("%s %s $%d", f.expr, c.Op, n)
	case c.Op == "~" && f.kind == textField:
		sql = fmt.Sprintf("LOWER(%s) LIKE $%d ESCAPE '\\'", f.expr, n)
		value = likePattern(c.Value)
	case c.Op == "!~" && f.kind == textField:
		sql = fmt.Sprintf("(%s IS NULL OR LOWER(%s) NOT LIKE $%d ESCAPE '\\')", f.expr, f.expr, n)
		value = likePattern(c.Value)
	default:
		return "", &SearchError{Msg: fmt.Sprintf("Operator '%s' is not valid for field '%s'", c.Op, name)}
	}
	*args = append(*args, value)
	return sql, nil
}

func lookupField(fields map[string]field, name string) (field, error) {
	f, ok := fields[name]
	if !ok {
		return f, &SearchError{Msg: fmt.Sprintf("Field '%s' not recognized for searching!", name)}
	}
	return f, nil
}

// typedValue is v as the field's kind compares it: text, an integer or a boolean.
func typedValue(f field, name, v string) (any, error) {
	switch f.kind {
	case intField:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, &SearchError{Msg: fmt.Sprintf("Value '%s' is not valid for field '%s'", v, name)}
		}
		return n, nil
	case boolField:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, &SearchError{Msg: fmt.Sprintf("Value '%s' is not valid for field '%s'", v, name)}
		}
		return b, nil
	}
	return v, nil
}

// inValues is "field ^ (…)" as IN, "!^" as NOT IN that an empty field satisfies too
// (as != does).
func inValues(c search.In, fields map[string]field, args *[]any) (string, error) {
	f, err := lookupField(fields, c.Field)
	if err != nil {
		return "", err
	}
	marks := make([]string, len(c.Values))
	for i, v := range c.Values {
		value, err := typedValue(f, c.Field, v)
		if err != nil {
			return "", err
		}
		*args = append(*args, value)
		marks[i] = fmt.Sprintf("$%d", len(*args))
	}
	list := strings.Join(marks, ", ")
	if c.Negated {
		return fmt.Sprintf("(%s IS NULL OR %s NOT IN (%s))", f.expr, f.expr, list), nil
	}
	return fmt.Sprintf("%s IN (%s)", f.expr, list), nil
}

// presence is "set? field" / "null? field"; an empty text counts as no value, as in
// scoped search.
func presence(c search.Presence, fields map[string]field) (string, error) {
	f, err := lookupField(fields, c.Field)
	if err != nil {
		return "", err
	}
	switch {
	case f.kind == textField && c.Set:
		return fmt.Sprintf("(%s IS NOT NULL AND %s <> '')", f.expr, f.expr), nil
	case f.kind == textField:
		return fmt.Sprintf("(%s IS NULL OR %s = '')", f.expr, f.expr), nil
	case c.Set:
		return f.expr + " IS NOT NULL", nil
	}
	return f.expr + " IS NULL", nil
}

func likePattern(v string) string {
	v = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(v))
	return "%" + v + "%"
}

// listIDs runs an index: the counts and the ids of the requested page, in order.
// Callers then load the rows they show by id.
func (s *Store) listIDs(ctx context.Context, table string, fields map[string]field, opts ListOptions) (Counts, []int64, error) {
	var c Counts
	cond, args, err := where(opts.Search, fields)
	if err != nil {
		return c, nil, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&c.Total); err != nil {
		return c, nil, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+cond, args...).Scan(&c.Subtotal); err != nil {
		return c, nil, err
	}
	sortBy := opts.OrderBy
	if sortBy == "" {
		sortBy = "name"
	}
	f, ok := fields[sortBy]
	if !ok && opts.OrderBy != "" {
		return c, nil, &SearchError{Msg: fmt.Sprintf("Field '%s' not recognized for sorting!", opts.OrderBy)}
	}
	order := "id"
	if ok {
		order = f.expr
		// Byte order on both databases: PostgreSQL's locale collations would sort
		// differently from SQLite's BINARY and from one server to another.
		if f.kind == textField && s.dialect == Postgres {
			order += ` COLLATE "C"`
		}
	}
	if opts.Desc {
		order += " DESC"
	}
	perPage, page := opts.PerPage, opts.Page
	if perPage <= 0 {
		perPage = 20
	}
	if page <= 0 {
		page = 1
	}
	q := fmt.Sprintf(`SELECT id FROM %s%s ORDER BY %s, id LIMIT %d OFFSET %d`, table, cond, order, perPage, (page-1)*perPage)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return c, nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return c, nil, err
		}
		ids = append(ids, id)
	}
	return c, ids, rows.Err()
}

// loadAll calls load for each id, in order.
func loadAll[T any](ctx context.Context, ids []int64, load func(context.Context, int64) (T, error)) ([]T, error) {
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		v, err := load(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// exec runs a statement and maps driver errors.
func exec(ctx context.Context, q execer, stmt string, args ...any) error {
	_, err := q.ExecContext(ctx, stmt, args...)
	return mapErr(err)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// deleteByID deletes one row; ErrNotFound when there was none.
func (s *Store) deleteByID(ctx context.Context, table string, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		return mapErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// namesOf lists a column of the rows a query selects: the dependents named in
// "X is used by Y" messages.
func (s *Store) namesOf(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// inList is "$1, $2, …" for ids, with the ids as arguments.
func inList(ids []int64) (string, []any) {
	marks := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		marks[i] = fmt.Sprintf("$%d", i+1)
		args[i] = id
	}
	return strings.Join(marks, ", "), args
}

// each runs a query and calls fn for every row.
func (s *Store) each(ctx context.Context, query string, args []any, fn func(*sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}
