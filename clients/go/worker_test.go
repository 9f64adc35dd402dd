package cronstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

const beat = 20 * time.Millisecond

// runWorker runs w in the background; stop cancels Run's context and
// returns what Run returned.
func runWorker(t *testing.T, w *Worker) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return within 10 s of its context's end")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func quietOptions(o WorkerOptions) WorkerOptions {
	o.Logger = slog.New(slog.DiscardHandler)
	o.MinBackoff, o.MaxBackoff = time.Millisecond, 10*time.Millisecond
	return o
}

func assign(id string, attempt int32, handler string) *cronstreamv1.Assignment {
	p, _ := structpb.NewStruct(map[string]any{"name": "go"})
	return &cronstreamv1.Assignment{
		ExecutionId: id, JobId: "job-" + id, HandlerName: handler, Payload: p, Attempt: attempt,
		ScheduledAt: timestamppb.Now(), Deadline: timestamppb.New(time.Now().Add(time.Minute)),
	}
}

func isHeartbeatWith(id string) func(*cronstreamv1.ConnectRequest) bool {
	return func(m *cronstreamv1.ConnectRequest) bool {
		return slices.Contains(m.GetHeartbeat().GetExecutionIds(), id)
	}
}

func TestWorkerRunsAnAssignment(t *testing.T) {
	f, c := startFake(t)
	recorder := tracetest.NewSpanRecorder()
	w := NewWorker(c, quietOptions(WorkerOptions{
		WorkerID: "w-1", Slots: 3,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder)),
	}))
	release := make(chan struct{})
	var seen *Context
	w.Handle("greet", func(ctx context.Context, job *Context) (map[string]any, error) {
		seen = job
		job.Log(LevelInfo, "hello from go")
		<-release
		return map[string]any{"ok": true, "name": job.Payload["name"]}, nil
	})
	stop := runWorker(t, w)

	s := f.nextSession(t)
	if h := s.hello; h.GetWorkerId() != "w-1" || fmt.Sprint(h.GetHandlerNames()) != "[greet]" || h.GetSlots() != 3 || len(h.GetRunning()) != 0 {
		t.Errorf("hello = %v", h)
	}
	s.welcome(beat)
	a := assign("e1", 1, "greet")
	a.Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	s.assign(a)

	log := s.waitFor("log", func(m *cronstreamv1.ConnectRequest) bool { return m.GetLog() != nil }).GetLog()
	if log.GetExecutionId() != "e1" || log.GetMessage() != "hello from go" || log.GetLevel() != cronstreamv1.LogLevel_LOG_LEVEL_INFO {
		t.Errorf("log = %v", log)
	}
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	close(release)

	r := s.waitResult("e1")
	if r.GetAttempt() != 1 || r.GetSuccess().GetResult().AsMap()["ok"] != true || r.GetSuccess().GetResult().AsMap()["name"] != "go" {
		t.Errorf("result = %v", r)
	}
	if seen.JobID != "job-e1" || seen.Attempt != 1 || seen.Deadline.IsZero() || seen.ScheduledAt.IsZero() {
		t.Errorf("job = %+v", seen)
	}
	s.ack("e1")
	s.waitFor("heartbeat without e1", func(m *cronstreamv1.ConnectRequest) bool {
		return m.GetHeartbeat() != nil && len(m.GetHeartbeat().GetExecutionIds()) == 0
	})
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}

	spans := recorder.Ended()
	if len(spans) != 1 || spans[0].Name() != "process greet" || spans[0].SpanKind() != trace.SpanKindConsumer {
		t.Fatalf("spans = %v", spans)
	}
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	want := map[string]string{
		"messaging.system":             "cronstream",
		"messaging.operation.type":     "process",
		"messaging.destination.name":   "greet",
		"messaging.message.id":         "e1",
		"cronstream.job.id":            "job-e1",
		"cronstream.execution.attempt": "1",
	}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("span attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if got := spans[0].Parent(); got.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || got.SpanID().String() != "b7ad6b7169203331" {
		t.Errorf("span parent = %v/%v, want the assignment's traceparent", got.TraceID(), got.SpanID())
	}
}

func TestWorkerReportsFailures(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	w.Handle("fail", func(ctx context.Context, job *Context) (map[string]any, error) {
		if job.Payload["final"] == true {
			return nil, NonRetryable(errors.New("bad input"))
		}
		panic("kaboom")
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	s.assign(assign("e1", 1, "fail"))
	final := assign("e2", 1, "fail")
	final.Payload.Fields["final"] = structpb.NewBoolValue(true)
	s.assign(final)

	panicked := s.waitResult("e1").GetFailure()
	if panicked.GetError() != "panic: kaboom" || !panicked.GetRetryable() || !strings.Contains(panicked.GetErrorStack(), "worker_test.go") {
		t.Errorf("panic result = %v", panicked)
	}
	if f := s.waitResult("e2").GetFailure(); f.GetError() != "bad input" || f.GetRetryable() {
		t.Errorf("non-retryable result = %v", f)
	}
	s.ack("e1")
	s.ack("e2")
}

func TestWorkerCancelsOnRequestAndAtTheDeadline(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	w.Handle("wait", func(ctx context.Context, _ *Context) (map[string]any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	s.assign(assign("e1", 1, "wait"))
	late := assign("e2", 1, "wait")
	late.Deadline = timestamppb.New(time.Now().Add(50 * time.Millisecond))
	s.assign(late)
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Cancel{
		Cancel: &cronstreamv1.CancelAssignment{ExecutionId: "e1", Reason: "overlap"},
	}})

	if f := s.waitResult("e1").GetFailure(); !strings.Contains(f.GetError(), "cancelled by the server: overlap") {
		t.Errorf("cancelled result = %v", f)
	}
	if f := s.waitResult("e2").GetFailure(); !strings.Contains(f.GetError(), "deadline exceeded") || !f.GetRetryable() {
		t.Errorf("timed-out result = %v", f)
	}
	s.ack("e1")
	s.ack("e2")
}

func TestWorkerResendsUnacknowledgedResultsAfterReconnecting(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	release := make(chan struct{})
	w.Handle("h", func(_ context.Context, job *Context) (map[string]any, error) {
		if job.ExecutionID == "slow" {
			<-release
		}
		return map[string]any{"id": job.ExecutionID}, nil
	})
	runWorker(t, w)

	first := f.nextSession(t)
	first.welcome(beat)
	first.assign(assign("fast", 1, "h"))
	first.assign(assign("slow", 4, "h"))
	first.waitResult("fast") // and never acknowledged
	first.end <- status.Error(codes.Unavailable, "replica going away")

	second := f.nextSession(t)
	running := map[string]int32{}
	for _, r := range second.hello.GetRunning() {
		running[r.GetExecutionId()] = r.GetAttempt()
	}
	if len(running) != 2 || running["fast"] != 1 || running["slow"] != 4 {
		t.Errorf("hello.running = %v, want fast/1 and slow/4", second.hello.GetRunning())
	}
	second.welcome(beat)
	if r := second.waitResult("fast"); r.GetSuccess() == nil {
		t.Errorf("re-sent result = %v", r)
	}
	second.ack("fast")
	close(release)
	if r := second.waitResult("slow"); r.GetAttempt() != 4 {
		t.Errorf("slow result = %v", r)
	}
	second.ack("slow")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.ledger.waitIdle(ctx); err != nil {
		n, u := w.ledger.counts()
		t.Errorf("ledger: %d running, %d unacknowledged", n, u)
	}
}

func TestWorkerDrainsThenReconnects(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	release := make(chan struct{})
	w.Handle("h", func(context.Context, *Context) (map[string]any, error) {
		<-release
		return nil, nil
	})
	runWorker(t, w)

	first := f.nextSession(t)
	first.welcome(beat)
	first.assign(assign("e1", 1, "h"))
	first.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	first.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Drain{Drain: &cronstreamv1.Drain{}}})
	first.waitFor("heartbeat after drain", isHeartbeatWith("e1")) // the session lives on
	close(release)
	first.waitResult("e1")
	first.ack("e1")
	first.waitEnded()
	second := f.nextSession(t)
	if len(second.hello.GetRunning()) != 0 {
		t.Errorf("hello.running = %v after a clean drain", second.hello.GetRunning())
	}
}

func TestWorkerStopsGracefully(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	release := make(chan struct{})
	w.Handle("h", func(ctx context.Context, _ *Context) (map[string]any, error) {
		select {
		case <-release:
			return map[string]any{"done": true}, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	stop := runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	s.assign(assign("e1", 1, "h"))
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	s.waitFor("capacity 0", func(m *cronstreamv1.ConnectRequest) bool {
		return m.GetCapacity() != nil && m.GetCapacity().GetSlots() == 0
	})
	close(release)
	if r := s.waitResult("e1"); r.GetSuccess() == nil {
		t.Errorf("result = %v, want success: stopping must not cancel handlers", r)
	}
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) before the result was acknowledged", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.ack("e1")
	if err := <-stopped; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestWorkerGracePeriodCancelsHandlers(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{GracePeriod: 100 * time.Millisecond}))
	cause := make(chan error, 1)
	w.Handle("h", func(ctx context.Context, _ *Context) (map[string]any, error) {
		<-ctx.Done()
		cause <- context.Cause(ctx)
		return nil, ctx.Err()
	})
	stop := runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	s.assign(assign("e1", 1, "h"))
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	if err := stop(); !errors.Is(err, ErrGracePeriodExceeded) {
		t.Errorf("Run = %v, want ErrGracePeriodExceeded", err)
	}
	if err := <-cause; !errors.Is(err, ErrGracePeriodExceeded) {
		t.Errorf("handler's cause = %v", err)
	}
}

func TestWorkerHonoursItsSlots(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{Slots: 2}))
	var now, peak atomic.Int32
	w.Handle("h", func(context.Context, *Context) (map[string]any, error) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(20 * time.Millisecond)
		now.Add(-1)
		return nil, nil
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	for i := range 6 { // a server that ignores slots: the worker still holds the line
		s.assign(assign(fmt.Sprint("e", i), 1, "h"))
	}
	for i := range 6 {
		s.waitResult(fmt.Sprint("e", i))
		s.ack(fmt.Sprint("e", i))
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("%d handlers ran at once, want 2", p)
	}
}

func TestWorkerIgnoresARepeatedAssignment(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	var calls atomic.Int32
	release := make(chan struct{})
	w.Handle("h", func(context.Context, *Context) (map[string]any, error) {
		calls.Add(1)
		<-release
		return nil, nil
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	s.assign(assign("e1", 1, "h"))
	s.assign(assign("e1", 1, "h"))
	s.waitFor("heartbeat naming e1", isHeartbeatWith("e1"))
	close(release)
	s.waitResult("e1")
	s.ack("e1")
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times", n)
	}
}

func TestWorkerGivesUpOnAWrongKey(t *testing.T) {
	f, c := startFake(t)
	f.mu.Lock()
	f.apiKey = "another"
	f.mu.Unlock()
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	w.Handle("h", func(context.Context, *Context) (map[string]any, error) { return nil, nil })
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := w.Run(ctx); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Run = %v, want ErrUnauthenticated", err)
	}
}

func TestWorkerRejectsBadSetup(t *testing.T) {
	_, c := startFake(t)
	if err := NewWorker(c, WorkerOptions{}).Run(t.Context()); err == nil {
		t.Error("Run without handlers succeeded")
	}
	w := NewWorker(c, WorkerOptions{Slots: 10001})
	w.Handle("h", func(context.Context, *Context) (map[string]any, error) { return nil, nil })
	if err := w.Run(t.Context()); err == nil {
		t.Error("Run with 10001 slots succeeded")
	}
}

func TestWorkerTakesBatchesAndSendsResultsBatched(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{WorkerID: "w-b", Slots: 10}))
	release := make(chan struct{})
	w.Handle("h", func(ctx context.Context, job *Context) (map[string]any, error) {
		<-release
		return nil, nil
	})
	stop := runWorker(t, w)

	s := f.nextSession(t)
	if !s.hello.GetAcceptsBatches() || !s.hello.GetHoldsUntilStart() {
		t.Errorf("hello.accepts_batches, holds_until_start = %v, %v; want true, true",
			s.hello.GetAcceptsBatches(), s.hello.GetHoldsUntilStart())
	}
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Welcome{Welcome: &cronstreamv1.Welcome{
		SessionId: "s-b", HeartbeatInterval: durationpb.New(time.Hour), AcceptsBatches: true,
	}}})
	ids := []string{"b1", "b2", "b3", "b4"}
	batch := &cronstreamv1.Assignments{}
	for _, id := range ids {
		batch.Assignments = append(batch.Assignments, assign(id, 1, "h"))
	}
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Assignments{Assignments: batch}})
	// All four run at once, then finish together.
	deadline := time.Now().Add(5 * time.Second)
	for running, _ := w.ledger.counts(); running < len(ids) && time.Now().Before(deadline); running, _ = w.ledger.counts() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	got := map[string]bool{}
	for len(got) < len(ids) {
		m := s.waitFor("results", func(m *cronstreamv1.ConnectRequest) bool {
			return m.GetResult() != nil || m.GetResults() != nil
		})
		if r := m.GetResult(); r != nil {
			got[r.GetExecutionId()] = true
		}
		for _, r := range m.GetResults().GetResults() {
			got[r.GetExecutionId()] = true
		}
	}
	acks := &cronstreamv1.ResultAcks{}
	for _, id := range ids {
		acks.Acks = append(acks.Acks, &cronstreamv1.ResultAck{ExecutionId: id})
	}
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_ResultAcks{ResultAcks: acks}})
	deadline = time.Now().Add(5 * time.Second)
	for !w.ledger.idle() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if !w.ledger.idle() {
		t.Errorf("results still unacknowledged after the batch of acks")
	}
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}

func TestQueuedResultsGoAsOneMessageInOrder(t *testing.T) {
	s := &session{out: make(chan *cronstreamv1.ConnectRequest, 8), ledger: newLedger()}
	result := func(id string) *cronstreamv1.ConnectRequest {
		return resultMessage(&cronstreamv1.WorkerResult{ExecutionId: id, Attempt: 1})
	}
	s.out <- result("r2")
	s.out <- result("r3")
	s.out <- heartbeatMessage([]string{"x"})
	s.out <- result("r4")

	m, carried := s.withQueuedResults(result("r1"))
	var ids []string
	for _, r := range m.GetResults().GetResults() {
		ids = append(ids, r.GetExecutionId())
	}
	if fmt.Sprint(ids) != "[r1 r2 r3]" {
		t.Errorf("batched %v, want [r1 r2 r3]", ids)
	}
	if carried.GetHeartbeat() == nil {
		t.Errorf("carried = %v, want the heartbeat that stopped the batch", carried)
	}
	if next := <-s.out; next.GetResult().GetExecutionId() != "r4" {
		t.Errorf("next queued = %v, want r4 left in place", next)
	}
	if single, _ := s.withQueuedResults(result("r5")); single.GetResult().GetExecutionId() != "r5" {
		t.Errorf("a lone result = %v, want a plain result message", single)
	}
}

func TestAResultWaitsBrieflyForOthersWhileMoreRun(t *testing.T) {
	s := &session{out: make(chan *cronstreamv1.ConnectRequest, 8), ledger: newLedger(), linger: time.Second}
	result := func(id string) *cronstreamv1.ConnectRequest {
		return resultMessage(&cronstreamv1.WorkerResult{ExecutionId: id, Attempt: 1})
	}
	s.ledger.begin("r2", 1, func(error) {})
	go func() {
		time.Sleep(20 * time.Millisecond) // r2 finishes after r1 went to the sender
		s.out <- result("r2")
	}()

	m, _ := s.withQueuedResults(result("r1"))

	var ids []string
	for _, r := range m.GetResults().GetResults() {
		ids = append(ids, r.GetExecutionId())
	}
	if fmt.Sprint(ids) != "[r1 r2]" {
		t.Errorf("batched %v, want [r1 r2] in one message", ids)
	}
}

func TestALastResultLeavesAtOnce(t *testing.T) {
	s := &session{out: make(chan *cronstreamv1.ConnectRequest, 8), ledger: newLedger(), linger: time.Second}

	began := time.Now()
	m, _ := s.withQueuedResults(resultMessage(&cronstreamv1.WorkerResult{ExecutionId: "r1"}))

	if m.GetResult().GetExecutionId() != "r1" {
		t.Errorf("message = %v, want the lone result r1", m)
	}
	if waited := time.Since(began); waited >= s.linger {
		t.Errorf("waited %v with nothing else running, want no linger", waited)
	}
}
