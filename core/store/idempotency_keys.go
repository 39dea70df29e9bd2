package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Idempotency keys: a zone relay (features/relay) sends each queued fact upload or
// report with a key and sends it again when it crashed before recording the delivery.
// The key is written in the same transaction as the facts or the report, so a commit
// holds both or neither, and the unique key decides between racing repeats, also
// between several cores on one PostgreSQL.

// KeyedAnswer is the first answer to a keyed request, given again to its repeats.
type KeyedAnswer struct {
	Status int
	Body   []byte // JSON
}

// KeyedWrite is the transaction a keyed request's write runs in.
type KeyedWrite struct {
	ctx context.Context
	tx  *sql.Tx
}

// SaveFacts is Store.SaveFacts in the keyed transaction.
func (w KeyedWrite) SaveFacts(hostID int64, facts json.RawMessage) error {
	return saveFacts(w.ctx, w.tx, hostID, facts)
}

// CreateConfigReport is Store.CreateConfigReport in the keyed transaction.
func (w KeyedWrite) CreateConfigReport(r *ConfigReport) error {
	return createConfigReport(w.ctx, w.tx, r)
}

// querier is what the pool and a transaction share for writes that return a row.
type querier interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// errKeyTaken rolls back the transaction of a repeat.
var errKeyTaken = errors.New("idempotency key already recorded")

// WriteOnce runs write in one transaction with the record of key and the answer write
// returns: both are committed or neither. When key is recorded already (also by a
// racing transaction: PostgreSQL's insert waits for its commit, SQLite has one writer),
// write does not run and the recorded answer is returned with replayed true. An empty
// key runs write in a transaction and records nothing.
func (s *Store) WriteOnce(ctx context.Context, key string, write func(w KeyedWrite) (KeyedAnswer, error)) (answer KeyedAnswer, replayed bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if key != "" {
			res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (idempotency_key, status, body, created_at)
				VALUES ($1, 0, '', $2) ON CONFLICT (idempotency_key) DO NOTHING`, key, now())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return errors.Join(errKeyTaken, err)
			}
		}
		var err error
		if answer, err = write(KeyedWrite{ctx, tx}); err != nil || key == "" {
			return err
		}
		return exec(ctx, tx, `UPDATE idempotency_keys SET status = $1, body = $2 WHERE idempotency_key = $3`,
			answer.Status, string(answer.Body), key)
	})
	if errors.Is(err, errKeyTaken) {
		answer, err = s.KeyedAnswer(ctx, key)
		return answer, true, err
	}
	return answer, false, err
}

// KeyedAnswer is the recorded first answer to key; ErrNotFound when none is.
func (s *Store) KeyedAnswer(ctx context.Context, key string) (KeyedAnswer, error) {
	var a KeyedAnswer
	var body string
	err := s.queryRow(ctx, `SELECT status, body FROM idempotency_keys WHERE idempotency_key = $1`, key).Scan(&a.Status, &body)
	a.Body = []byte(body)
	return a, mapErr(err)
}

// ExpireIdempotencyKeys forgets the keys recorded before cutoff and says how many.
func (s *Store) ExpireIdempotencyKeys(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE created_at < $1`, cutoff.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
