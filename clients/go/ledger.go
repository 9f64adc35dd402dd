package cronstream

import (
	"context"
	"slices"
	"sync"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// resultRetention bounds how long a result waits for its acknowledgement.
// Past it the server has long fenced the attempt (its lease expired and the
// execution was retried), so re-sending it, and naming it in hello.running,
// would only hold a lease that belongs to someone else.
const resultRetention = 10 * time.Minute

// ledger holds what a worker owes the server, across sessions: attempts
// still running (assigned, no result yet) and results not yet acknowledged.
// A new session names both in its hello and re-sends the results.
type ledger struct {
	mu      sync.Mutex
	running map[string]*heldAttempt               // by execution id
	results map[string]*cronstreamv1.WorkerResult // by execution id
	since   map[string]time.Time                  // when each result was produced
	changed chan struct{}                         // closed and replaced on every change
}

type heldAttempt struct {
	number int32
	cancel context.CancelCauseFunc
}

func newLedger() *ledger {
	return &ledger{
		running: map[string]*heldAttempt{},
		results: map[string]*cronstreamv1.WorkerResult{},
		since:   map[string]time.Time{},
		changed: make(chan struct{}),
	}
}

// notify wakes waitIdle; l.mu must be held.
func (l *ledger) notify() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// begin records attempt n of execution id. It returns false for a repeated
// assignment of an attempt already running; a newer attempt supersedes an
// older one, whose context is cancelled and whose result is dropped.
func (l *ledger) begin(id string, n int32, cancel context.CancelCauseFunc) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old, ok := l.running[id]; ok {
		if old.number >= n {
			return false
		}
		old.cancel(ErrExecutionCancelled)
	}
	if r, ok := l.results[id]; ok && r.GetAttempt() < n {
		delete(l.results, id) // the server has moved on to attempt n
		delete(l.since, id)
	}
	l.running[id] = &heldAttempt{number: n, cancel: cancel}
	l.notify()
	return true
}

// finish turns a running attempt into a result awaiting acknowledgement. It
// returns false, dropping r, when r's attempt is no longer the one held.
func (l *ledger) finish(r *cronstreamv1.WorkerResult) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := r.GetExecutionId()
	held, ok := l.running[id]
	if !ok || held.number != r.GetAttempt() {
		return false
	}
	delete(l.running, id)
	l.results[id], l.since[id] = r, time.Now()
	l.notify()
	return true
}

// drop forgets attempt n of id, which ends without a result (it was
// cancelled before it started); a newer attempt of id is left alone.
func (l *ledger) drop(id string, n int32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if held, ok := l.running[id]; ok && held.number == n {
		delete(l.running, id)
		l.notify()
	}
}

// ack forgets an acknowledged result.
func (l *ledger) ack(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.results[id]; ok {
		delete(l.results, id)
		delete(l.since, id)
		l.notify()
	}
}

// cancel cancels a running attempt's context with cause; false if id is
// not running.
func (l *ledger) cancel(id string, cause error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	held, ok := l.running[id]
	if ok {
		held.cancel(cause)
	}
	return ok
}

// runningIDs lists the running executions, for heartbeats.
func (l *ledger) runningIDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.running))
	for id := range l.running {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// held lists every attempt the worker still answers for, running or
// awaiting acknowledgement, for hello.running.
func (l *ledger) held() []*cronstreamv1.RunningExecution {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	out := make([]*cronstreamv1.RunningExecution, 0, len(l.running)+len(l.results))
	for id, a := range l.running {
		out = append(out, &cronstreamv1.RunningExecution{ExecutionId: id, Attempt: a.number})
	}
	for id, r := range l.results {
		out = append(out, &cronstreamv1.RunningExecution{ExecutionId: id, Attempt: r.GetAttempt()})
	}
	return out
}

// unacked lists the results awaiting acknowledgement.
func (l *ledger) unacked() []*cronstreamv1.WorkerResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	out := make([]*cronstreamv1.WorkerResult, 0, len(l.results))
	for _, r := range l.results {
		out = append(out, r)
	}
	return out
}

// expire drops results older than resultRetention; l.mu must be held.
func (l *ledger) expire() {
	cutoff := time.Now().Add(-resultRetention)
	for id, t := range l.since {
		if t.Before(cutoff) {
			delete(l.results, id)
			delete(l.since, id)
		}
	}
}

// counts returns how many attempts run and how many results await
// acknowledgement.
func (l *ledger) counts() (running, unacked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expire()
	return len(l.running), len(l.results)
}

// changes returns a channel closed at the next change.
func (l *ledger) changes() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// idle reports whether the worker owes the server nothing.
func (l *ledger) idle() bool {
	running, unacked := l.counts()
	return running == 0 && unacked == 0
}

// waitIdle returns nil once the worker owes nothing, or ctx's error.
func (l *ledger) waitIdle(ctx context.Context) error {
	for {
		changed := l.changes()
		if l.idle() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
