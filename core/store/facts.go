package store

import (
	"context"
	"encoding/json"
	"time"
)

// SaveFacts replaces the facts of a host with the object a fact upload carried.
func (s *Store) SaveFacts(ctx context.Context, hostID int64, facts json.RawMessage) error {
	return saveFacts(ctx, s.db, hostID, facts)
}

// saveFacts is SaveFacts on q: the store's pool or a transaction (KeyedWrite).
func saveFacts(ctx context.Context, q execer, hostID int64, facts json.RawMessage) error {
	return exec(ctx, q, `INSERT INTO host_facts (host_id, facts, uploaded_at) VALUES ($1, $2, $3)
		ON CONFLICT (host_id) DO UPDATE SET facts = excluded.facts, uploaded_at = excluded.uploaded_at`,
		hostID, string(facts), now())
}

// Facts returns the last facts a host uploaded and when; ErrNotFound if it never did.
func (s *Store) Facts(ctx context.Context, hostID int64) (json.RawMessage, time.Time, error) {
	var facts string
	var at time.Time
	err := s.queryRow(ctx, `SELECT facts, uploaded_at FROM host_facts WHERE host_id = $1`, hostID).Scan(&facts, &at)
	return json.RawMessage(facts), at, mapErr(err)
}
