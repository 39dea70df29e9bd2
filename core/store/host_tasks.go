package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// Task is one step of an orchestration run as Foreman shows it in its progress view.
type Task struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"` // pending, running, completed, failed, conflict, rollbacked, canceled
	Priority  int       `json:"priority"`
	Timestamp time.Time `json:"timestamp"`
}

// TaskRun is the task list of the last orchestration run of a host.
type TaskRun struct {
	HostName  string
	Operation string // create, update, destroy, built
	Tasks     []Task
	UpdatedAt time.Time
}

// SaveTaskRun replaces the last run recorded for the host name. Runs are kept by name,
// not host id: a failed create leaves no host row, yet its steps are worth showing.
func (s *Store) SaveTaskRun(ctx context.Context, r *TaskRun) error {
	data, err := json.Marshal(r.Tasks)
	if err != nil {
		return err
	}
	r.UpdatedAt = now()
	return s.inTx(ctx, func(tx *sql.Tx) error {
		return exec(ctx, tx, `INSERT INTO host_tasks (host_name, operation, tasks, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (host_name) DO UPDATE SET operation = excluded.operation, tasks = excluded.tasks,
		updated_at = excluded.updated_at`, r.HostName, r.Operation, string(data), r.UpdatedAt)
	})
}

// TaskRun loads the last run recorded for a host name.
func (s *Store) TaskRun(ctx context.Context, hostName string) (TaskRun, error) {
	r := TaskRun{HostName: hostName}
	var data string
	err := s.queryRow(ctx, `SELECT operation, tasks, updated_at FROM host_tasks WHERE host_name = $1`, hostName).
		Scan(&r.Operation, &data, &r.UpdatedAt)
	if err != nil {
		return r, mapErr(err)
	}
	return r, json.Unmarshal([]byte(data), &r.Tasks)
}
