package cronstream

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// serverClock is a time on the fake server's clock, years away from the
// worker's: a hold is a difference of two server times, so skew must not
// matter.
var serverClock = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// heldAssignment is an assignment starting hold after serverClock.
func heldAssignment(id string, hold time.Duration) *cronstreamv1.Assignment {
	a := assign(id, 1, "h")
	a.StartAt = timestamppb.New(serverClock.Add(hold))
	return a
}

// startRecorder is a handler that notes when each execution started.
type startRecorder struct {
	mu      sync.Mutex
	started map[string]time.Time
}

func (r *startRecorder) handle(_ context.Context, job *Context) (map[string]any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[job.ExecutionID] = time.Now()
	return nil, nil
}

func (r *startRecorder) startedAt(id string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.started[id]
	return at, ok
}

// holdingWorker runs a worker whose handler "h" records starts, and returns
// its welcomed session.
func holdingWorker(t *testing.T) (*Worker, *fakeSession, *startRecorder) {
	t.Helper()
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	rec := &startRecorder{started: map[string]time.Time{}}
	w.Handle("h", rec.handle)
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	return w, s, rec
}

// expectNoResult reads the worker's messages until d has passed, failing
// on a result for id.
func (s *fakeSession) expectNoResult(id string, d time.Duration) {
	s.t.Helper()
	names := func(m *cronstreamv1.ConnectRequest) bool {
		if m.GetResult().GetExecutionId() == id {
			return true
		}
		return slices.ContainsFunc(m.GetResults().GetResults(), func(r *cronstreamv1.WorkerResult) bool {
			return r.GetExecutionId() == id
		})
	}
	timeout := time.After(d)
	for {
		select {
		case m := <-s.recv:
			if names(m) {
				s.t.Fatalf("result for %s: %v", id, m)
			}
		case <-timeout:
			if slices.ContainsFunc(s.held, names) {
				s.t.Fatalf("result for %s among %v", id, s.held)
			}
			return
		}
	}
}

func TestWorkerHoldsAnAssignmentUntilItsStart(t *testing.T) {
	_, s, rec := holdingWorker(t)
	const hold = 300 * time.Millisecond

	sent := time.Now() // the message arrives after this, so the start must come hold after it
	s.assignBatch(timestamppb.New(serverClock), heldAssignment("e1", hold))
	s.waitResult("e1")

	started, _ := rec.startedAt("e1")
	if waited := started.Sub(sent); waited < hold || waited > hold+400*time.Millisecond {
		t.Errorf("started %v after the message was sent, want %v (plus a little)", waited, hold)
	}
	s.ack("e1")
}

func TestWorkerStartsAtOnceWithoutAHoldToKeep(t *testing.T) {
	_, s, rec := holdingWorker(t)
	// Each would wait maxHold if misread: a start before sent_at, a
	// timestamp missing from a pair, or a single `assignment`.
	past := heldAssignment("past", -time.Hour)
	unsetStart := assign("unset-start", 1, "h")
	unsetSent := heldAssignment("unset-sent", time.Hour)
	single := heldAssignment("single", time.Hour)

	sent := time.Now()
	s.assignBatch(timestamppb.New(serverClock), past, unsetStart)
	s.assignBatch(nil, unsetSent)
	s.assign(single)

	for _, id := range []string{"past", "unset-start", "unset-sent", "single"} {
		s.waitResult(id)
		if started, _ := rec.startedAt(id); started.Sub(sent) > time.Second {
			t.Errorf("%s started %v after it was sent, want at once", id, started.Sub(sent))
		}
		s.ack(id)
	}
}

func TestWorkerListsAHeldAssignmentAndDropsItOnCancel(t *testing.T) {
	w, s, rec := holdingWorker(t)
	const hold = time.Second

	sent := time.Now()
	s.assignBatch(timestamppb.New(serverClock), heldAssignment("e1", hold))
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	if time.Since(sent) >= hold {
		t.Fatalf("the heartbeat came %v after the assignment, after its start: too slow to tell", time.Since(sent))
	}
	if _, ok := rec.startedAt("e1"); ok {
		t.Fatal("e1 started before its start_at")
	}

	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Cancel{
		Cancel: &cronstreamv1.CancelAssignment{ExecutionId: "e1", Reason: "cancelled"},
	}})
	s.waitFor("heartbeat without e1", func(m *cronstreamv1.ConnectRequest) bool {
		return m.GetHeartbeat() != nil && !slices.Contains(m.GetHeartbeat().GetExecutionIds(), "e1")
	})
	// Past the moment it would have started, it still has not, and sent nothing.
	s.expectNoResult("e1", time.Until(sent.Add(hold+300*time.Millisecond)))
	if _, ok := rec.startedAt("e1"); ok {
		t.Error("e1 started after its cancel")
	}
	if running, unacked := w.ledger.counts(); running != 0 || unacked != 0 {
		t.Errorf("ledger: %d running, %d unacknowledged; want nothing", running, unacked)
	}
}

func TestWorkerDrainingStartsAHeldAssignmentAtItsTime(t *testing.T) {
	_, s, rec := holdingWorker(t)
	const hold = 200 * time.Millisecond

	sent := time.Now()
	s.assignBatch(timestamppb.New(serverClock), heldAssignment("e1", hold))
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Drain{Drain: &cronstreamv1.Drain{}}})
	s.waitResult("e1")
	if started, _ := rec.startedAt("e1"); started.Sub(sent) < hold {
		t.Errorf("started %v after it was sent, want %v", started.Sub(sent), hold)
	}
	s.ack("e1")
	s.waitEnded()
}

func TestStartTime(t *testing.T) {
	arrived := time.Now()
	sent := timestamppb.New(serverClock)
	at := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(serverClock.Add(d)) }
	for _, c := range []struct {
		startAt, sentAt *timestamppb.Timestamp
		want            time.Time
	}{
		{at(250 * time.Millisecond), sent, arrived.Add(250 * time.Millisecond)},
		{at(time.Hour), sent, arrived.Add(maxHold)},
		{at(0), sent, time.Time{}},
		{at(-time.Second), sent, time.Time{}},
		{nil, sent, time.Time{}},
		{at(time.Second), nil, time.Time{}},
	} {
		name := fmt.Sprintf("start_at %v, sent_at %v", c.startAt.AsTime(), c.sentAt.AsTime())
		if got := startTime(c.startAt, c.sentAt, arrived); !got.Equal(c.want) {
			t.Errorf("%s: startTime = %v, want %v", name, got, c.want)
		}
	}
}
