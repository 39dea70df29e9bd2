package store

import (
	"context"
	"database/sql"
)

// Reads with a fixed text go through statements prepared once: on SQLite, parsing the
// SQL was most of a small read's CPU (a host create makes a few dozen). database/sql
// prepares a *sql.Stmt again on each connection it runs on, and keeps a connection to
// one use at a time, so a statement is never shared by two running queries. Texts
// built from lists (IN (…)) must not come here: each would be kept.

// prepared is the statement of query, nil when it could not be prepared (the caller
// then runs the text, which reports the error).
func (s *Store) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := s.statements.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if kept, loaded := s.statements.LoadOrStore(query, st); loaded {
		st.Close()
		return kept.(*sql.Stmt)
	}
	return st
}

// queryRow is s.db.QueryRowContext through a prepared statement.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.db.QueryRowContext(ctx, query, args...)
}

// query is s.db.QueryContext through a prepared statement.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := s.prepared(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.db.QueryContext(ctx, query, args...)
}

func (s *Store) closeStatements() {
	s.statements.Range(func(query, st any) bool {
		st.(*sql.Stmt).Close()
		s.statements.Delete(query)
		return true
	})
}
