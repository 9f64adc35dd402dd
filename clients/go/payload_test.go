package cronstream

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

func TestPayloadRoundTrip(t *testing.T) {
	type point struct {
		X int `json:"x"`
	}
	s, err := Payload(map[string]any{
		"n": 3, "s": "x", "ok": true, "none": nil,
		"list":   []string{"a", "b"}, // not accepted by structpb: goes through JSON
		"nested": map[string]any{"p": point{X: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := payloadMap(s)
	if m["n"] != 3.0 || m["s"] != "x" || m["ok"] != true || m["none"] != nil {
		t.Errorf("scalars: %v", m)
	}
	if l := m["list"].([]any); len(l) != 2 || l[1] != "b" {
		t.Errorf("list: %v", m["list"])
	}
	if m["nested"].(map[string]any)["p"].(map[string]any)["x"] != 1.0 {
		t.Errorf("nested: %v", m["nested"])
	}
	if empty, err := Payload(nil); err != nil || len(empty.GetFields()) != 0 {
		t.Errorf("Payload(nil) = %v, %v", empty, err)
	}
	if m := payloadMap(nil); m == nil || len(m) != 0 {
		t.Errorf("payloadMap(nil) = %#v", m)
	}
	if _, err := Payload(map[string]any{"f": math.Inf(1)}); err == nil {
		t.Error("+Inf accepted")
	}
}

func assignment() *cronstreamv1.Assignment {
	p, _ := structpb.NewStruct(map[string]any{"k": "v"})
	return &cronstreamv1.Assignment{
		ExecutionId: "e1", JobId: "j1", HandlerName: "h", Attempt: 2, Payload: p,
		ScheduledAt: timestamppb.Now(),
	}
}

func TestResultOf(t *testing.T) {
	a := assignment()
	ok := resultOf(a, map[string]any{"ok": true}, nil)
	if ok.GetExecutionId() != "e1" || ok.GetAttempt() != 2 || ok.GetSuccess().GetResult().GetFields()["ok"].GetBoolValue() != true {
		t.Errorf("success = %v", ok)
	}

	failure := resultOf(a, nil, errors.New("boom")).GetFailure()
	if failure.GetError() != "boom" || !failure.GetRetryable() || failure.Retryable == nil {
		t.Errorf("plain error = %v", failure)
	}

	final := resultOf(a, nil, NonRetryable(errors.New("bad input"))).GetFailure()
	if final.GetError() != "bad input" || final.GetRetryable() {
		t.Errorf("non-retryable = %v", final)
	}

	notJSON := resultOf(a, map[string]any{"c": make(chan int)}, nil).GetFailure()
	if !strings.Contains(notJSON.GetError(), "handler result") || notJSON.GetRetryable() {
		t.Errorf("unencodable result = %v", notJSON)
	}
}

func TestPanicBecomesFailureWithStack(t *testing.T) {
	out, err := invoke(context.Background(), func(context.Context, *Context) (any, error) {
		panic("kaboom")
	}, &Context{})
	if out != nil || err == nil {
		t.Fatalf("invoke = %v, %v", out, err)
	}
	f := failureOf(err)
	if !strings.HasPrefix(f.GetError(), "panic: kaboom") || !f.GetRetryable() {
		t.Errorf("failure = %v", f)
	}
	if !strings.Contains(f.GetErrorStack(), "TestPanicBecomesFailureWithStack") {
		t.Errorf("stack does not name the panicking function:\n%s", f.GetErrorStack())
	}
}

func TestJobFromAssignment(t *testing.T) {
	var sent []*cronstreamv1.ConnectRequest
	j := newContext(assignment(), func(m *cronstreamv1.ConnectRequest) bool { sent = append(sent, m); return true })
	if j.ExecutionID != "e1" || j.JobID != "j1" || j.Attempt != 2 || j.Payload["k"] != "v" || j.ScheduledAt.IsZero() || !j.Deadline.IsZero() {
		t.Errorf("job = %+v", j)
	}
	j.Log(LevelWarn, strings.Repeat("é", maxLogBytes)) // 2 bytes each: must be cut
	log := sent[0].GetLog()
	if log.GetExecutionId() != "e1" || log.GetAttempt() != 2 || log.GetLevel() != cronstreamv1.LogLevel_LOG_LEVEL_WARN {
		t.Errorf("log = %v", log)
	}
	if n := len(log.GetMessage()); n > maxLogBytes || n < maxLogBytes-1 || !strings.HasSuffix(log.GetMessage(), "é") {
		t.Errorf("message cut to %d bytes, or mid-character", n)
	}
}
