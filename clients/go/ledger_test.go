package cronstream

import (
	"context"
	"errors"
	"testing"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

func TestLedgerFencesAttempts(t *testing.T) {
	l := newLedger()
	_, cancel1 := context.WithCancelCause(context.Background())
	if !l.begin("e", 1, cancel1) || l.begin("e", 1, func(error) {}) {
		t.Fatal("a repeated assignment of attempt 1 was taken twice")
	}
	if !l.finish(&cronstreamv1.WorkerResult{ExecutionId: "e", Attempt: 1}) {
		t.Fatal("attempt 1's result was refused")
	}
	if held := l.held(); len(held) != 1 || held[0].GetAttempt() != 1 {
		t.Errorf("held = %v, want the unacknowledged attempt 1", held)
	}

	// The server moved on to attempt 2: attempt 1's result is moot.
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	if !l.begin("e", 2, cancel2) {
		t.Fatal("attempt 2 was refused")
	}
	if held := l.held(); len(held) != 1 || held[0].GetAttempt() != 2 || len(l.unacked()) != 0 {
		t.Errorf("held = %v, unacked = %v; want attempt 2 alone", held, l.unacked())
	}

	// Attempt 3 supersedes a running attempt 2, whose result is then dropped.
	ctx3, cancel3 := context.WithCancelCause(context.Background())
	if !l.begin("e", 3, cancel3) {
		t.Fatal("attempt 3 was refused")
	}
	if !errors.Is(context.Cause(ctx2), ErrExecutionCancelled) {
		t.Errorf("superseded attempt's cause = %v", context.Cause(ctx2))
	}
	if l.finish(&cronstreamv1.WorkerResult{ExecutionId: "e", Attempt: 2}) {
		t.Error("a superseded attempt's result was kept")
	}
	if l.cancel("e", errors.New("stop")); ctx3.Err() == nil {
		t.Error("cancel did not reach attempt 3")
	}
	l.finish(&cronstreamv1.WorkerResult{ExecutionId: "e", Attempt: 3})
	l.ack("e")
	ctx, done := context.WithTimeout(context.Background(), time.Second)
	defer done()
	if err := l.waitIdle(ctx); err != nil {
		t.Errorf("not idle after the ack: %v", err)
	}
}

func TestLedgerDropsOnlyTheAttemptNamed(t *testing.T) {
	l := newLedger()
	l.begin("e", 1, func(error) {})
	l.begin("e", 2, func(error) {}) // supersedes attempt 1, which is then dropped
	l.drop("e", 1)
	if ids := l.runningIDs(); len(ids) != 1 {
		t.Fatalf("running = %v after dropping the superseded attempt, want e", ids)
	}
	l.drop("e", 2)
	if running, unacked := l.counts(); running != 0 || unacked != 0 {
		t.Errorf("%d running, %d unacknowledged after the drop; want nothing", running, unacked)
	}
}
