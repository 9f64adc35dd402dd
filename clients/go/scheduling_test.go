package cronstream

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

func TestJobLimitsAndDependenciesRoundTrip(t *testing.T) {
	j := Job{Name: "load", Handler: "load", Trigger: Cron("0 * * * *", ""),
		Concurrency:  &ConcurrencyLimit{Key: "customer:{payload.customer_id}", Limit: 2},
		RateLimitKey: "crm-api", DependsOn: []string{"j_extract"}, MaxWait: 2 * time.Hour}
	m := j.Proto()
	if m.GetConcurrency().GetKey() != "customer:{payload.customer_id}" || m.GetConcurrency().GetLimit() != 2 {
		t.Errorf("concurrency = %v", m.GetConcurrency())
	}
	if m.GetRateLimitKey() != "crm-api" || !slices.Equal(m.GetDependsOn(), []string{"j_extract"}) || m.GetMaxWait().AsDuration() != 2*time.Hour {
		t.Errorf("rate limit key %q, depends on %v, max wait %v", m.GetRateLimitKey(), m.GetDependsOn(), m.GetMaxWait())
	}

	until := time.Date(2027, 1, 4, 6, 0, 0, 0, time.UTC)
	m.PausedUntil = timestamppb.New(until)
	back := jobFromProto(m)
	if !reflect.DeepEqual(back.Concurrency, j.Concurrency) || back.RateLimitKey != j.RateLimitKey ||
		!slices.Equal(back.DependsOn, j.DependsOn) || back.MaxWait != j.MaxWait || !back.PausedUntil.Equal(until) {
		t.Errorf("round trip = %+v", back)
	}

	// Absent on the wire reads as nil and zero; nil on a job from the server
	// drops the limit rather than keeping the server's.
	plain := jobFromProto(&cronstreamv1.Job{Id: "j1"})
	if plain.Concurrency != nil || !plain.PausedUntil.IsZero() || plain.MaxWait != 0 {
		t.Errorf("absent fields: %+v", plain)
	}
	back.Concurrency, back.MaxWait = nil, 0
	if m := back.Proto(); m.Concurrency != nil || m.MaxWait != nil {
		t.Errorf("after clearing: concurrency %v, max wait %v", m.Concurrency, m.MaxWait)
	}
}

func TestWaitingExecution(t *testing.T) {
	deadline := time.Date(2027, 1, 4, 7, 0, 0, 0, time.UTC)
	e := executionFromProto(&cronstreamv1.Execution{
		Id: "e1", Status: cronstreamv1.ExecutionStatus_EXECUTION_STATUS_WAITING,
		Trigger:        cronstreamv1.ExecutionTrigger_EXECUTION_TRIGGER_BACKFILL,
		ConcurrencyKey: "customer:42", RateLimitKey: "crm-api",
		WaitingFor: []string{"j_extract"}, WaitDeadline: timestamppb.New(deadline),
	})
	if e.Status != ExecutionWaiting || e.Status.String() != "WAITING" || e.Status.Final() {
		t.Errorf("status %v (final %v): WAITING has not ended", e.Status, e.Status.Final())
	}
	if e.Trigger != TriggerBackfill || e.Trigger.String() != "BACKFILL" {
		t.Errorf("trigger = %v", e.Trigger)
	}
	if e.ConcurrencyKey != "customer:42" || e.RateLimitKey != "crm-api" ||
		!slices.Equal(e.WaitingFor, []string{"j_extract"}) || !e.WaitDeadline.Equal(deadline) {
		t.Errorf("execution = %+v", e)
	}
	var final []ExecutionStatus
	for s := ExecutionPending; s <= ExecutionWaiting; s++ {
		if s.Final() {
			final = append(final, s)
		}
	}
	want := []ExecutionStatus{ExecutionSuccess, ExecutionFailed, ExecutionTimeout, ExecutionCancelled, ExecutionSkipped}
	if !slices.Equal(final, want) {
		t.Errorf("final statuses = %v, want %v", final, want)
	}
}

func TestUntilNoneRemain(t *testing.T) {
	steps := []BulkChange{{1000, 1500}, {1000, 500}, {500, 0}}
	got, err := untilNoneRemain(func() (BulkChange, error) {
		step := steps[0]
		steps = steps[1:]
		return step, nil
	})
	if err != nil || got != (BulkChange{2500, 0}) {
		t.Errorf("= %+v, %v; want {2500 0}", got, err)
	}

	calls := 0
	got, _ = untilNoneRemain(func() (BulkChange, error) { calls++; return BulkChange{0, 7}, nil })
	if got != (BulkChange{0, 7}) || calls != 1 {
		t.Errorf("no progress: %+v after %d calls; want {0 7} after 1", got, calls)
	}

	boom := errors.New("unavailable")
	steps = []BulkChange{{10, 5}}
	got, err = untilNoneRemain(func() (BulkChange, error) {
		if len(steps) == 0 {
			return BulkChange{}, boom
		}
		step := steps[0]
		steps = steps[1:]
		return step, nil
	})
	if !errors.Is(err, boom) || got != (BulkChange{10, 5}) {
		t.Errorf("a failed call: %+v, %v; want what was done, {10 5}, and the error", got, err)
	}
}

func TestSelectorAndBackfillRequests(t *testing.T) {
	sel := JobSelector{Tags: []string{"etl"}, Handler: "load", NamePrefix: "nightly-"}.proto()
	if !slices.Equal(sel.GetTags(), []string{"etl"}) || sel.GetHandlerName() != "load" || sel.GetNamePrefix() != "nightly-" || sel.GetAll() {
		t.Errorf("selector = %v", sel)
	}
	end := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	req := backfillRequest("j1", end.Add(-7*24*time.Hour), end, OverlapBufferOne)
	if req.GetId() != "j1" || !req.GetEndTime().AsTime().Equal(end) || !req.GetStartTime().AsTime().Equal(end.Add(-168*time.Hour)) ||
		req.GetOverlapPolicy() != cronstreamv1.OverlapPolicy_OVERLAP_POLICY_BUFFER_ONE {
		t.Errorf("backfill request = %v", req)
	}
	if r := backfillRequest("j1", end.Add(-time.Hour), end, 0); r.GetOverlapPolicy() != cronstreamv1.OverlapPolicy_OVERLAP_POLICY_UNSPECIFIED {
		t.Errorf("zero overlap must leave the server's choice: %v", r.GetOverlapPolicy())
	}
}

func TestPreviewRequest(t *testing.T) {
	after := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	m := PreviewRequest{Trigger: Cron("30 2 * * *", "Europe/Berlin"), After: after, Before: after.AddDate(0, 1, 0)}.proto()
	if m.GetJob().GetCron().GetTimezone() != "Europe/Berlin" || !m.GetStartTime().AsTime().Equal(after) ||
		!m.GetEndTime().AsTime().Equal(after.AddDate(0, 1, 0)) || m.GetCount() != 0 || m.GetJobId() != "" {
		t.Errorf("preview of a trigger = %v", m)
	}
	byID := PreviewRequest{JobID: "j1", Count: 5}.proto()
	if byID.Job != nil || byID.GetJobId() != "j1" || byID.StartTime != nil || byID.EndTime != nil || byID.GetCount() != 5 {
		t.Errorf("preview of a job = %v", byID)
	}
}

func TestPreviewReadsDSTMarksAndSummary(t *testing.T) {
	jump := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC) // 02:00 CET becomes 03:00 CEST
	p := previewFromProto(&cronstreamv1.PreviewScheduleResponse{
		Times: []*timestamppb.Timestamp{timestamppb.New(jump)},
		Instants: []*cronstreamv1.ScheduledInstant{{
			Time: timestamppb.New(jump), LocalTime: "2026-03-29T03:00:00+02:00", UtcOffsetSeconds: 7200,
			Shifted: true, ScheduledWallTime: "02:30",
		}},
		Summary: &cronstreamv1.PreviewSummary{
			InstantsPerMonth:  []*cronstreamv1.MonthCount{{Month: "2026-03", Count: 3}, {Month: "2026-04", Count: 1}},
			ClockChanges:      []*cronstreamv1.ClockChange{{At: timestamppb.New(jump), OffsetBeforeSeconds: 3600, OffsetAfterSeconds: 7200}},
			P95Duration:       durationpb.New(25 * time.Minute),
			PredictedOverlaps: 2, Truncated: true,
		},
	})
	i := p.Instants[0]
	if !i.Time.Equal(jump) || i.Local.Format(time.RFC3339) != "2026-03-29T03:00:00+02:00" || i.UTCOffset != 2*time.Hour ||
		!i.Shifted || i.ScheduledWallTime != "02:30" || i.RepeatedHour {
		t.Errorf("instant = %+v", i)
	}
	s := p.Summary
	if !slices.Equal(s.InstantsPerMonth, []MonthCount{{"2026-03", 3}, {"2026-04", 1}}) {
		t.Errorf("per month = %v", s.InstantsPerMonth)
	}
	if c := s.ClockChanges[0]; len(s.ClockChanges) != 1 || !c.At.Equal(jump) || c.OffsetBefore != time.Hour || c.OffsetAfter != 2*time.Hour {
		t.Errorf("clock changes = %+v", s.ClockChanges)
	}
	if s.P95Duration != 25*time.Minute || s.PredictedOverlaps != 2 || !s.Truncated {
		t.Errorf("summary = %+v", s)
	}
	if times := p.Times(); len(times) != 1 || !times[0].Equal(jump) {
		t.Errorf("times = %v", times)
	}

	// Without the server's wall-clock text, the offset alone gives it.
	bare := scheduledInstantFromProto(&cronstreamv1.ScheduledInstant{Time: timestamppb.New(jump), UtcOffsetSeconds: 7200})
	if bare.Local.Format(time.RFC3339) != "2026-03-29T03:00:00+02:00" {
		t.Errorf("local from the offset = %v", bare.Local)
	}
}

func TestRateLimitScope(t *testing.T) {
	for _, bad := range []RateLimitScope{{}, {Key: "k", Handler: "h"}} {
		if err := bad.check(); !errors.Is(err, errScope) {
			t.Errorf("%+v: %v, want the scope error", bad, err)
		}
	}
	m := RateLimit{RateLimitScope: KeyScope("customer:{payload.id}"), Limit: 10, Per: time.Second, Burst: 20}.proto()
	if m.GetKey() != "customer:{payload.id}" || m.GetHandlerName() != "" || m.GetLimit() != 10 || m.GetPer().AsDuration() != time.Second || m.GetBurst() != 20 {
		t.Errorf("key limit = %v", m)
	}
	h := RateLimit{RateLimitScope: HandlerScope("send_sms"), Limit: 100, Per: time.Minute}.proto()
	if _, ok := h.GetScope().(*cronstreamv1.RateLimit_HandlerName); !ok || h.GetHandlerName() != "send_sms" || h.GetBurst() != 0 {
		t.Errorf("handler limit = %v", h)
	}
	created := time.Date(2027, 1, 4, 6, 0, 0, 0, time.UTC)
	h.PlatformId, h.CreatedAt = "p1", timestamppb.New(created)
	back := rateLimitFromProto(h)
	if back.Handler != "send_sms" || back.Key != "" || back.Limit != 100 || back.Per != time.Minute ||
		back.PlatformID != "p1" || !back.CreatedAt.Equal(created) || !back.UpdatedAt.IsZero() {
		t.Errorf("read back = %+v", back)
	}
}
