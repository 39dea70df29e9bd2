package orchestrate

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/smartproxy/smartproxy/core/api"
	"github.com/smartproxy/smartproxy/core/proxies"
	"github.com/smartproxy/smartproxy/core/store"
)

// Task statuses, Foreman's.
const (
	pending    = "pending"
	running    = "running"
	completed  = "completed"
	failed     = "failed"
	conflict   = "conflict"
	rollbacked = "rollbacked"
	canceled   = "canceled"
)

// Phases order the run: Foreman's queue (inside the save), the database write, then
// the post-queue. Priorities order tasks inside a phase.
const (
	phaseQueue = iota
	phasePost
)

// task is one step with its mirror: undo is called when a later step fails (nil when
// there is nothing to undo, as for fetching boot files).
type task struct {
	name     string
	priority int
	phase    int
	do       func(ctx context.Context) error
	undo     func(ctx context.Context) error
	// bestEffort: a failure is recorded and logged, and the run goes on (deleting a
	// Puppet certificate, which nothing can undo and which leaves no record behind).
	bestEffort bool
	status     string
	at         time.Time
}

// queue is one host's run; warn receives best-effort failures.
type queue struct {
	tasks []*task
	warn  func(string)
}

func (q *queue) add(name string, priority int, do, undo func(context.Context) error) {
	q.tasks = append(q.tasks, &task{name: name, priority: priority, phase: phaseQueue, do: do, undo: undo, status: pending})
}

func (q *queue) addPost(name string, priority int, do, undo func(context.Context) error) {
	q.add(name, priority, do, undo)
	q.tasks[len(q.tasks)-1].phase = phasePost
}

// run runs the tasks by phase and priority, ties in the order they were added. The
// first failure cancels what is still pending and undoes every completed task in
// reverse order; an undo that fails is reported and the others still run. The error
// is an *api.TaskError: the failed step with the proxy's answer, then each failed undo.
func (q *queue) run(ctx context.Context) error {
	sort.SliceStable(q.tasks, func(i, j int) bool {
		a, b := q.tasks[i], q.tasks[j]
		if a.phase != b.phase {
			return a.phase < b.phase
		}
		return a.priority < b.priority
	})
	for i, t := range q.tasks {
		t.status, t.at = running, time.Now().UTC()
		err := t.do(ctx)
		if err == nil {
			t.status = completed
			continue
		}
		t.status = failed
		if t.bestEffort {
			if q.warn != nil {
				q.warn(fmt.Sprintf("%s failed, going on: %s", t.name, describe(err)))
			}
			continue
		}
		if isConflict(err) {
			t.status = conflict
		}
		messages := []string{fmt.Sprintf("%s task failed with the following error: %s", t.name, describe(err))}
		for _, later := range q.tasks[i+1:] {
			later.status = canceled
		}
		// The undo must run even when the client hung up: leaving records behind is
		// worse than finishing a request nobody reads.
		undoCtx := context.WithoutCancel(ctx)
		for j := i - 1; j >= 0; j-- {
			done := q.tasks[j]
			done.at = time.Now().UTC()
			if done.undo != nil {
				if err := done.undo(undoCtx); err != nil {
					done.status = failed
					messages = append(messages, fmt.Sprintf("Failed to perform rollback on %s - %s", done.name, describe(err)))
					continue
				}
			}
			done.status = rollbacked
		}
		return &runError{task: &api.TaskError{Messages: messages}, cause: err}
	}
	return nil
}

// runError is a failed run: the API answers the TaskError (422, errors.base), except
// for a store conflict (a name taken meanwhile), which it answers on the field.
type runError struct {
	task  *api.TaskError
	cause error
}

func (e *runError) Error() string   { return e.task.Error() }
func (e *runError) Unwrap() []error { return []error{e.cause, e.task} }

// list is the run as stored and served.
func (q *queue) list() []store.Task {
	out := make([]store.Task, len(q.tasks))
	for i, t := range q.tasks {
		out[i] = store.Task{Name: t.name, Status: t.status, Priority: t.priority, Timestamp: t.at}
	}
	return out
}

func isConflict(err error) bool {
	var pe *proxies.ProxyError
	return errors.As(err, &pe) && pe.Status == http.StatusConflict
}

// describe is the proxy's answer ("409 Conflict ('web01.example.test 'is already in
// use) for proxy https://…/dns/") or the transport's error. The proxy's message is
// what tells the admin what to fix, so a long one (an error naming a deep path) is
// kept, up to its first line and 1,000 bytes.
func describe(err error) string {
	var pe *proxies.ProxyError
	if !errors.As(err, &pe) {
		return err.Error()
	}
	msg := strings.TrimSpace(pe.Body)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	if msg == "" || strings.HasPrefix(msg, "<") { // nothing, or an HTML page from something else
		return pe.Error()
	}
	return fmt.Sprintf("%d %s (%s) for proxy %s", pe.Status, http.StatusText(pe.Status), msg, pe.URL)
}

// notFoundIsDone makes a delete of something already gone a success, as Foreman treats
// a 404 from DNS and Puppet CA deletes.
func notFoundIsDone(err error) error {
	var pe *proxies.ProxyError
	if errors.As(err, &pe) && pe.Status == http.StatusNotFound {
		return nil
	}
	return err
}
