package cronstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// A session is one WorkerService.Connect stream. After the hello/welcome
// handshake three goroutines run it, and the first to return ends it:
//   - receive reads the server's messages and dispatches them;
//   - send is the stream's only writer (a gRPC stream is not safe for
//     concurrent Send), draining the out channel;
//   - keepLeases sends heartbeats and, once draining, ends the session when
//     the worker owes the server nothing.
//
// What outlives a session (running attempts, unacknowledged results) lives
// in the worker's ledger, so a session can die at any moment. A session
// knows the ledger and a start function for assignments, not the worker.
type session struct {
	stream   cronstreamv1.WorkerService_ConnectClient
	ledger   *ledger
	start    startFunc // takes an assignment to run
	log      *slog.Logger
	out      chan *cronstreamv1.ConnectRequest
	done     <-chan struct{}
	draining chan struct{} // closed on entering stateDraining

	mu    sync.Mutex
	state sessionState

	id        string
	heartbeat time.Duration
	batches   bool          // the server takes `results` batches (its welcome says so)
	linger    time.Duration // resultLinger
}

type sessionState int

const (
	stateHandshake sessionState = iota // hello sent, waiting for welcome
	stateActive                        // taking assignments
	stateDraining                      // server asked to drain: finish, then reconnect
	stateClosed                        // ended; sends are refused
)

const (
	welcomeTimeout = 30 * time.Second
	outBuffer      = 256
	maxBatch       = 500 // most results in one `results` message (the server's limit)
	// resultLinger is how long a result waits for others to share its
	// message while more executions still run: the server's cost is per
	// message, and fast handlers otherwise finish one by one, each sent alone.
	resultLinger     = time.Millisecond
	defaultHeartbeat = 10 * time.Second
	minHeartbeat     = 10 * time.Millisecond
	// maxHold bounds how long an assignment is held before it starts. The
	// server sends at most a fraction of a second ahead; the bound only keeps
	// a bad pair of timestamps from parking an attempt for long.
	maxHold = 5 * time.Second
)

// startFunc takes an assignment to run from at (a monotonic instant of
// this process), or at once when at is zero.
type startFunc func(a *cronstreamv1.Assignment, at time.Time)

var (
	// errDrained ends a session that drained as the server asked.
	errDrained = errors.New("cronstream: session drained")
	// errStreamClosed ends a session the server closed without an error.
	errStreamClosed = errors.New("cronstream: the server closed the worker stream")
	errNoWelcome    = errors.New("cronstream: no welcome from the server")
)

// newSession makes the session of stream, which ends with ctx. start is
// handed each assignment; l holds what the worker owes, across sessions.
func newSession(ctx context.Context, stream cronstreamv1.WorkerService_ConnectClient, l *ledger,
	start startFunc, log *slog.Logger) *session {
	return &session{
		stream:   stream,
		ledger:   l,
		start:    start,
		log:      log,
		out:      make(chan *cronstreamv1.ConnectRequest, outBuffer),
		done:     ctx.Done(),
		draining: make(chan struct{}),
		linger:   resultLinger,
	}
}

// handshake sends hello and waits for welcome.
func (s *session) handshake(ctx context.Context, cancel context.CancelCauseFunc, hello *cronstreamv1.WorkerHello) error {
	if err := s.stream.Send(&cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Hello{Hello: hello}}); err != nil {
		return s.endStatus(err) // no other goroutine reads yet
	}
	timer := time.AfterFunc(welcomeTimeout, func() { cancel(errNoWelcome) })
	defer timer.Stop()
	m, err := s.stream.Recv()
	if err != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errNoWelcome) {
			return cause
		}
		return err
	}
	welcome := m.GetWelcome()
	if welcome == nil {
		return fmt.Errorf("cronstream: the server answered hello with %T, not welcome", m.GetMsg())
	}
	s.id, s.heartbeat = welcome.GetSessionId(), heartbeatInterval(welcome)
	s.batches = welcome.GetAcceptsBatches()
	s.transition(stateHandshake, stateActive)
	return nil
}

// endStatus turns a failed Send into the status the stream ended with,
// which only Recv reports.
func (s *session) endStatus(err error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if _, rerr := s.stream.Recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return errStreamClosed
}

func heartbeatInterval(w *cronstreamv1.Welcome) time.Duration {
	d := w.GetHeartbeatInterval().AsDuration()
	switch {
	case w.GetHeartbeatInterval() == nil || d <= 0:
		if lease := w.GetLeaseDuration().AsDuration(); lease > 0 {
			return max(lease/3, minHeartbeat)
		}
		return defaultHeartbeat
	default:
		return max(d, minHeartbeat)
	}
}

// run starts the three loops and then calls attached, for the worker to
// route its messages here (not before: enqueue waits for the writer once
// the buffer is full); it returns why the session ended.
func (s *session) run(ctx context.Context, cancel context.CancelCauseFunc, attached func()) error {
	var wg sync.WaitGroup
	for _, loop := range []func(context.Context) error{s.receive, s.send, s.keepLeases} {
		wg.Go(func() { cancel(loop(ctx)) })
	}
	attached()
	wg.Wait()
	s.close()
	return context.Cause(ctx)
}

// receive reads and dispatches the server's messages until the stream ends.
func (s *session) receive(ctx context.Context) error {
	for {
		m, err := s.stream.Recv()
		arrived := time.Now() // holds count from here, on the monotonic clock
		switch {
		case errors.Is(err, io.EOF) && s.currentState() == stateDraining:
			return errDrained
		case errors.Is(err, io.EOF):
			return errStreamClosed
		case err != nil:
			return err
		}
		s.dispatch(m, arrived)
	}
}

// dispatch handles m, which arrived at arrived.
func (s *session) dispatch(m *cronstreamv1.ConnectResponse, arrived time.Time) {
	switch msg := m.GetMsg().(type) {
	case *cronstreamv1.ConnectResponse_Assignment:
		s.start(msg.Assignment, time.Time{}) // single assignments are sent when due
	case *cronstreamv1.ConnectResponse_Assignments:
		sentAt := msg.Assignments.GetSentAt()
		for _, a := range msg.Assignments.GetAssignments() {
			s.start(a, startTime(a.GetStartAt(), sentAt, arrived))
		}
	case *cronstreamv1.ConnectResponse_Cancel:
		cause := fmt.Errorf("%w: %s", ErrExecutionCancelled, msg.Cancel.GetReason())
		s.ledger.cancel(msg.Cancel.GetExecutionId(), cause)
	case *cronstreamv1.ConnectResponse_ResultAck:
		s.ledger.ack(msg.ResultAck.GetExecutionId())
	case *cronstreamv1.ConnectResponse_ResultAcks:
		for _, a := range msg.ResultAcks.GetAcks() {
			s.ledger.ack(a.GetExecutionId())
		}
	case *cronstreamv1.ConnectResponse_Drain:
		if s.transition(stateActive, stateDraining) {
			s.log.Info("cronstream: server draining; finishing, then reconnecting", "session_id", s.id)
		}
	default:
		s.log.Warn("cronstream: unexpected message on the worker stream", "type", fmt.Sprintf("%T", msg))
	}
}

// startTime is when an assignment of a message sent at sentAt, which
// arrived at arrived, is to start: start_at - sent_at after arrival. Both
// are times on the server's clock, so the worker's own clock may be off by
// any amount, and the message's time in transit only delays the start. Zero
// (at once) when either is unset or the start is not ahead.
func startTime(startAt, sentAt *timestamppb.Timestamp, arrived time.Time) time.Time {
	if startAt == nil || sentAt == nil {
		return time.Time{}
	}
	hold := startAt.AsTime().Sub(sentAt.AsTime())
	if hold <= 0 {
		return time.Time{}
	}
	return arrived.Add(min(hold, maxHold))
}

// send writes queued messages to the stream, the only goroutine that does.
// Results queued back to back go as one `results` message when the server
// takes them: a message per result is most of a busy worker's stream cost.
func (s *session) send(ctx context.Context) error {
	var carried *cronstreamv1.ConnectRequest
	for {
		m := carried
		carried = nil
		if m == nil {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case m = <-s.out:
			}
		}
		if s.batches && m.GetResult() != nil {
			m, carried = s.withQueuedResults(m)
		}
		if err := s.stream.Send(m); err != nil {
			if errors.Is(err, io.EOF) {
				<-ctx.Done() // the stream ended: receive reports its status
				return context.Cause(ctx)
			}
			return err
		}
	}
}

// withQueuedResults takes the results queued behind first into one message,
// keeping order: the first other message taken is returned to be sent next.
// While other executions still run, it waits up to s.linger for theirs.
func (s *session) withQueuedResults(first *cronstreamv1.ConnectRequest) (m, carried *cronstreamv1.ConnectRequest) {
	results := []*cronstreamv1.WorkerResult{first.GetResult()}
	var linger <-chan time.Time
	for len(results) < maxBatch {
		var next *cronstreamv1.ConnectRequest
		select {
		case next = <-s.out:
		default:
			if linger == nil {
				if running, _ := s.ledger.counts(); running == 0 {
					return resultsMessage(results), nil
				}
				timer := time.NewTimer(s.linger)
				defer timer.Stop()
				linger = timer.C
			}
			select {
			case next = <-s.out:
			case <-linger:
				return resultsMessage(results), nil
			}
		}
		if next.GetResult() == nil {
			return resultsMessage(results), next
		}
		results = append(results, next.GetResult())
	}
	return resultsMessage(results), nil
}

// keepLeases sends a heartbeat listing the running executions every
// heartbeat interval; once draining, it ends the session as soon as every
// attempt has finished and every result has been acknowledged.
func (s *session) keepLeases(ctx context.Context) error {
	ticker := time.NewTicker(s.heartbeat)
	defer ticker.Stop()
	drain := (<-chan struct{})(s.draining)
	var changed <-chan struct{}
	for {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-ticker.C:
			s.enqueue(heartbeatMessage(s.ledger.runningIDs()))
		case <-drain:
			drain = nil
		case <-changed:
		}
		if drain == nil {
			changed = s.ledger.changes() // before the check, so no change is missed
			if s.ledger.idle() {
				return errDrained
			}
		}
	}
}

// enqueue hands m to the writer; false if the session has ended.
func (s *session) enqueue(m *cronstreamv1.ConnectRequest) bool {
	select {
	case <-s.done:
		return false
	default:
	}
	select {
	case s.out <- m:
		return true
	case <-s.done:
		return false
	}
}

func (s *session) currentState() sessionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = stateClosed
}

// transition moves from one state to another; false if the session was not
// in from.
func (s *session) transition(from, to sessionState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != from {
		return false
	}
	s.state = to
	if to == stateDraining {
		close(s.draining)
	}
	return true
}

func resultMessage(r *cronstreamv1.WorkerResult) *cronstreamv1.ConnectRequest {
	return &cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Result{Result: r}}
}

func resultsMessage(results []*cronstreamv1.WorkerResult) *cronstreamv1.ConnectRequest {
	if len(results) == 1 {
		return resultMessage(results[0])
	}
	batch := &cronstreamv1.WorkerResults{Results: results}
	return &cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Results{Results: batch}}
}

func heartbeatMessage(ids []string) *cronstreamv1.ConnectRequest {
	return &cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Heartbeat{
		Heartbeat: &cronstreamv1.WorkerHeartbeat{ExecutionIds: ids},
	}}
}

func capacityMessage(slots int32) *cronstreamv1.ConnectRequest {
	return &cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Capacity{
		Capacity: &cronstreamv1.WorkerCapacity{Slots: slots},
	}}
}
