package cronstream

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

func TestStatusNames(t *testing.T) {
	for s, want := range map[JobStatus]string{JobActive: "ACTIVE", JobPaused: "PAUSED", JobFailed: "FAILED", JobCancelled: "CANCELLED"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s, want)
		}
	}
	for s, want := range map[ExecutionStatus]string{ExecutionSuccess: "SUCCESS", ExecutionTimeout: "TIMEOUT", ExecutionRunning: "RUNNING"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", s, s, want)
		}
	}
	if ExecutionRunning.Final() || !ExecutionSkipped.Final() || !ExecutionSuccess.Final() {
		t.Error("Final: only ended executions are final")
	}
}

func TestPolicyNames(t *testing.T) {
	for p, want := range map[fmt.Stringer]string{
		PriorityLow: "LOW", PriorityMedium: "MEDIUM", PriorityHigh: "HIGH", PriorityCritical: "CRITICAL",
		OverlapAllow: "ALLOW", OverlapSkip: "SKIP", OverlapBufferOne: "BUFFER_ONE", OverlapCancelPrevious: "CANCEL_PREVIOUS",
		MisfireRunOnce: "RUN_ONCE", MisfireRunAll: "RUN_ALL", MisfireSkip: "SKIP",
		Priority(0): "UNSPECIFIED",
	} {
		if p.String() != want {
			t.Errorf("%T %d: String() = %q, want %q", p, p, p, want)
		}
	}
}

func TestJobPoliciesRoundTrip(t *testing.T) {
	j := Job{Priority: PriorityHigh, OverlapPolicy: OverlapSkip, MisfirePolicy: MisfireRunAll,
		CatchupWindow: 2 * time.Hour, Jitter: 1500 * time.Millisecond}
	m := j.Proto()
	if m.GetPriority() != cronstreamv1.Priority_PRIORITY_HIGH || m.GetOverlapPolicy() != cronstreamv1.OverlapPolicy_OVERLAP_POLICY_SKIP ||
		m.GetMisfirePolicy() != cronstreamv1.MisfirePolicy_MISFIRE_POLICY_RUN_ALL ||
		m.GetCatchupWindow().AsDuration() != 2*time.Hour || m.GetJitter().AsDuration() != 1500*time.Millisecond {
		t.Errorf("proto = %v", m)
	}
	back := jobFromProto(m)
	if back.Priority != j.Priority || back.OverlapPolicy != j.OverlapPolicy || back.MisfirePolicy != j.MisfirePolicy ||
		back.CatchupWindow != j.CatchupWindow || back.Jitter != j.Jitter {
		t.Errorf("round trip = %+v, want the policies of %+v", back, j)
	}

	zero := (&Job{}).Proto()
	if zero.GetPriority() != cronstreamv1.Priority_PRIORITY_UNSPECIFIED || zero.GetOverlapPolicy() != cronstreamv1.OverlapPolicy_OVERLAP_POLICY_UNSPECIFIED ||
		zero.GetMisfirePolicy() != cronstreamv1.MisfirePolicy_MISFIRE_POLICY_UNSPECIFIED || zero.CatchupWindow != nil || zero.Jitter != nil {
		t.Errorf("zero values must leave the server's defaults: %v", zero)
	}

	// A job as the server returns it: zeroing a field asks for the default
	// again rather than keeping the server's value.
	back.Jitter, back.OverlapPolicy = 0, 0
	if m := back.Proto(); m.Jitter != nil || m.GetOverlapPolicy() != cronstreamv1.OverlapPolicy_OVERLAP_POLICY_UNSPECIFIED || m.GetPriority() != cronstreamv1.Priority_PRIORITY_HIGH {
		t.Errorf("after zeroing jitter and overlap policy: %v", m)
	}
}

func TestJobToProto(t *testing.T) {
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	j := Job{Name: "n", Handler: "h", Trigger: Once(at), Payload: struct {
		To string `json:"to"`
	}{"ada"}, MaxRetries: new(0), RetryDelay: 1500 * time.Millisecond}
	m, err := j.toProto()
	if err != nil {
		t.Fatal(err)
	}
	if m.GetName() != "n" || m.GetHandlerName() != "h" || !m.GetOnce().GetRunAt().AsTime().Equal(at) {
		t.Errorf("proto = %v", m)
	}
	if m.MaxRetries == nil || m.GetMaxRetries() != 0 || m.GetRetryDelay().AsDuration() != 1500*time.Millisecond || m.Timeout != nil {
		t.Errorf("retries %v, delay %v, timeout %v: zero durations must stay absent", m.MaxRetries, m.GetRetryDelay(), m.Timeout)
	}
	if m.GetPayload().AsMap()["to"] != "ada" {
		t.Errorf("payload = %v", m.GetPayload())
	}
	if _, err := (&Job{Payload: []int{1}}).toProto(); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("a list payload: %v, want not a JSON object", err)
	}
	for trig, want := range map[Trigger]string{Cron("0 3 * * *", "Europe/Berlin"): "cron", Every(2 * time.Second): "interval", OnEvent("e"): "event"} {
		m := (&Job{Trigger: trig}).Proto()
		if got := triggerFromProto(m); got != trig {
			t.Errorf("%s trigger round trip: %#v, want %#v", want, got, trig)
		}
	}
}

func TestJobFromProto(t *testing.T) {
	next := time.Date(2027, 1, 2, 2, 30, 0, 0, time.UTC)
	p, _ := structpb.NewStruct(map[string]any{"k": "v"})
	m := &cronstreamv1.Job{
		Id: "j1", Name: "n", HandlerName: "h", Status: cronstreamv1.JobStatus_JOB_STATUS_ACTIVE,
		NextRun: timestamppb.New(next), AvgDuration: durationpb.New(250 * time.Millisecond),
		Timeout: durationpb.New(time.Minute), Payload: p, Priority: cronstreamv1.Priority_PRIORITY_HIGH,
		Trigger: &cronstreamv1.Job_Interval{Interval: &cronstreamv1.IntervalTrigger{Every: durationpb.New(2 * time.Second), MaxRuns: 3}},
	}
	j := jobFromProto(m)
	if j.ID != "j1" || j.Status.String() != "ACTIVE" || !j.NextRun.Equal(next) || !j.LastRun.IsZero() {
		t.Errorf("job = %+v", j)
	}
	if j.AvgDuration != 250*time.Millisecond || j.Timeout != time.Minute || j.MaxRetries != nil {
		t.Errorf("durations: avg %v, timeout %v, retries %v", j.AvgDuration, j.Timeout, j.MaxRetries)
	}
	if tr, ok := j.Trigger.(IntervalTrigger); !ok || tr.Every != 2*time.Second || tr.MaxRuns != 3 || !tr.Start.IsZero() {
		t.Errorf("trigger = %#v", j.Trigger)
	}
	if j.Payload.(map[string]any)["k"] != "v" {
		t.Errorf("payload = %v", j.Payload)
	}
	j.Name = "renamed"
	if back := j.Proto(); back.GetPriority() != cronstreamv1.Priority_PRIORITY_HIGH || back.GetName() != "renamed" || m.GetName() != "n" {
		t.Errorf("Proto must keep the server's fields, apply edits, and not touch the original: %v", back)
	}
}

func TestExecutionFromProto(t *testing.T) {
	r, _ := structpb.NewStruct(map[string]any{"ok": true})
	e := executionFromProto(&cronstreamv1.Execution{
		Id: "e1", Status: cronstreamv1.ExecutionStatus_EXECUTION_STATUS_SUCCESS, Attempt: 2,
		Duration: durationpb.New(1500 * time.Millisecond), Result: r, StartedAt: timestamppb.Now(),
	})
	if e.Status != ExecutionSuccess || e.Attempt != 2 || e.Duration != 1500*time.Millisecond || e.Result["ok"] != true {
		t.Errorf("execution = %+v", e)
	}
	if e.StartedAt.IsZero() || !e.CompletedAt.IsZero() || e.Proto().GetId() != "e1" {
		t.Errorf("times: started %v, completed %v (absent must be zero)", e.StartedAt, e.CompletedAt)
	}
}

type greetIn struct {
	Name  string   `json:"name"`
	Times int      `json:"times"`
	Tags  []string `json:"tags"`
}

type greetOut struct {
	Greeting string `json:"greeting"`
	Count    int    `json:"count"`
}

func TestTypedHandlerRoundTrip(t *testing.T) {
	f, c := startFake(t)
	w := NewWorker(c, quietOptions(WorkerOptions{}))
	var got greetIn
	Handle(w, "greet", func(_ context.Context, job *Context, in greetIn) (greetOut, error) {
		got = in
		return greetOut{Greeting: "hello, " + in.Name, Count: in.Times}, nil
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	a := assign("e1", 1, "greet")
	a.Payload.Fields["times"] = structpb.NewNumberValue(3)
	a.Payload.Fields["tags"] = structpb.NewListValue(&structpb.ListValue{Values: []*structpb.Value{structpb.NewStringValue("x")}})
	s.assign(a)
	r := s.waitResult("e1").GetSuccess().GetResult().AsMap()
	if r["greeting"] != "hello, go" || r["count"] != 3.0 {
		t.Errorf("result = %v", r)
	}
	if got.Name != "go" || got.Times != 3 || len(got.Tags) != 1 {
		t.Errorf("decoded payload = %+v", got)
	}
	s.ack("e1")
}

func TestTypedHandlerDecodeFailureIsFinal(t *testing.T) {
	f, c := startFake(t)
	var logs bytes.Buffer
	opts := quietOptions(WorkerOptions{})
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	w := NewWorker(c, opts)
	called := false
	Handle(w, "greet", func(context.Context, *Context, greetIn) (greetOut, error) {
		called = true
		return greetOut{}, nil
	})
	runWorker(t, w)
	s := f.nextSession(t)
	s.welcome(beat)
	a := assign("e1", 2, "greet")
	a.Payload.Fields["times"] = structpb.NewStringValue("three") // not an int
	s.assign(a)
	fail := s.waitResult("e1").GetFailure()
	if fail.GetRetryable() || !strings.Contains(fail.GetError(), "does not decode into *cronstream.greetIn") {
		t.Errorf("failure = %v, want a final decode error", fail)
	}
	if called {
		t.Error("the handler ran on a payload that does not decode")
	}
	s.ack("e1")
	line := logs.String()
	if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "execution_id=e1") || !strings.Contains(line, "attempt=2") {
		t.Errorf("want one ERROR record with execution_id and attempt, got:\n%s", line)
	}
}

func TestTypedHandlerResultMustBeAnObject(t *testing.T) {
	r := resultOf(assign("e1", 1, "h"), 42, nil)
	if f := r.GetFailure(); f.GetRetryable() || !strings.Contains(f.GetError(), "not a JSON object") {
		t.Errorf("a number result: %v", r)
	}
	if r := resultOf(assign("e1", 1, "h"), map[string]any(nil), nil); r.GetSuccess() == nil {
		t.Errorf("a nil map result: %v, want success with {}", r)
	}
}

func TestWorkerLogsRetryableFailuresAtWarn(t *testing.T) {
	var logs bytes.Buffer
	w := NewWorker(nil, WorkerOptions{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	a := assign("e7", 3, "h")
	w.logOutcome(t.Context(), a, resultOf(a, nil, context.DeadlineExceeded))
	w.logOutcome(t.Context(), a, resultOf(a, nil, nil))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "execution_id=e7 attempt=3") || !strings.Contains(lines[1], "level=DEBUG") {
		t.Errorf("records:\n%s", logs.String())
	}
}
