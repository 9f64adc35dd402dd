package cronstream_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

// TestLiveScheduling runs the scheduling controls (pause until, bulk pause
// and resume, backfill, the preview's DST marks, rate limits, job limits
// and dependencies) against a live server, as TestE2E does:
//
//	CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=... go test -run TestLiveScheduling -v ./...
//
// It needs a server with issue 16's RPCs (a server without them answers
// UNIMPLEMENTED, and this test fails). It is named apart from TestE2E so
// that `-run TestE2E` leaves it out until then.
func TestLiveScheduling(t *testing.T) {
	addr := os.Getenv("CRONSTREAM_E2E_ADDR")
	if addr == "" {
		t.Skip("CRONSTREAM_E2E_ADDR is not set: no live Cronstream server to run the scheduling scenario against")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c := dialE2E(t, ctx, addr)
	name := "go-sched-" + randomHex(t)

	t.Run("pause until", func(t *testing.T) { livePauseUntil(t, ctx, c, name) })
	t.Run("pause and resume by tag", func(t *testing.T) { liveBulk(t, ctx, c, name) })
	t.Run("backfill", func(t *testing.T) { liveBackfill(t, ctx, c, name) })
	t.Run("preview across a DST jump", func(t *testing.T) { livePreview(t, ctx, c) })
	t.Run("rate limits", func(t *testing.T) { liveRateLimits(t, ctx, c, name) })
	t.Run("job limits and dependencies", func(t *testing.T) { liveJobLimits(t, ctx, c, name) })
}

const yearly = "0 3 1 1 *" // far from any run's wall clock

func mustCreate(t *testing.T, ctx context.Context, c *cronstream.Client, job cronstream.Job) *cronstream.Job {
	t.Helper()
	created, err := c.CreateJob(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	return created
}

func livePauseUntil(t *testing.T, ctx context.Context, c *cronstream.Client, name string) {
	job := mustCreate(t, ctx, c, cronstream.Job{Name: name, Handler: "h", Trigger: cronstream.Cron(yearly, "")})
	until := time.Now().UTC().Truncate(time.Hour).Add(3 * time.Hour)
	paused, err := c.PauseJob(ctx, job.ID, until)
	if err != nil || paused.Status != cronstream.JobPaused || !paused.PausedUntil.Equal(until) {
		t.Fatalf("PauseJob until %v = %+v, %v", until, paused, err)
	}
	if _, err := c.PauseJob(ctx, job.ID, time.Now().Add(-time.Minute)); !errors.Is(err, cronstream.ErrInvalidArgument) {
		t.Errorf("an until in the past: %v, want ErrInvalidArgument", err)
	}
}

func liveBulk(t *testing.T, ctx context.Context, c *cronstream.Client, name string) {
	tag := name + "-bulk"
	for range 5 {
		mustCreate(t, ctx, c, cronstream.Job{Name: name, Handler: "h", Trigger: cronstream.Cron(yearly, ""), Tags: []string{tag}})
	}
	sel := cronstream.JobSelector{Tags: []string{tag}}
	if got, err := c.PauseJobs(ctx, sel, cronstream.BulkOptions{Limit: 2}); err != nil || got != (cronstream.BulkChange{Changed: 2, Remaining: 3}) {
		t.Errorf("PauseJobs limit 2 = %+v, %v; want {2 3}", got, err)
	}
	if got, err := c.PauseMatchingJobs(ctx, sel, cronstream.BulkOptions{Limit: 2}); err != nil || got != (cronstream.BulkChange{Changed: 3, Remaining: 0}) {
		t.Errorf("PauseMatchingJobs = %+v, %v; want {3 0}", got, err)
	}
	if got, err := c.ResumeMatchingJobs(ctx, sel, cronstream.BulkOptions{}); err != nil || got != (cronstream.BulkChange{Changed: 5, Remaining: 0}) {
		t.Errorf("ResumeMatchingJobs = %+v, %v; want {5 0}", got, err)
	}
	if _, err := c.PauseJobs(ctx, cronstream.JobSelector{}, cronstream.BulkOptions{}); !errors.Is(err, cronstream.ErrInvalidArgument) {
		t.Errorf("an empty selector: %v, want ErrInvalidArgument", err)
	}
}

func liveBackfill(t *testing.T, ctx context.Context, c *cronstream.Client, name string) {
	job := mustCreate(t, ctx, c, cronstream.Job{Name: name, Handler: "h", Trigger: cronstream.Cron("0 * * * *", "")})
	end := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	start := end.Add(-6 * time.Hour)
	if got, err := c.BackfillJob(ctx, job.ID, start, end, 0); err != nil || got != (cronstream.Backfill{Instants: 6, Created: 6}) {
		t.Errorf("first backfill = %+v, %v; want {6 6 0}", got, err)
	}
	if got, err := c.BackfillJob(ctx, job.ID, start, end, cronstream.OverlapAllow); err != nil || got != (cronstream.Backfill{Instants: 6, Existing: 6}) {
		t.Errorf("the same backfill again = %+v, %v; want {6 0 6}", got, err)
	}
	var slots []time.Time
	for e, err := range c.ListExecutions(ctx, cronstream.ExecutionFilter{JobID: job.ID}) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Trigger == cronstream.TriggerBackfill {
			slots = append(slots, e.ScheduledAt)
		}
	}
	slices.SortFunc(slots, time.Time.Compare)
	if len(slots) != 6 || !slots[0].Equal(start) || !slots[5].Equal(end.Add(-time.Hour)) {
		t.Errorf("backfilled slots = %v, want the 6 hours from %v", slots, start)
	}
}

func livePreview(t *testing.T, ctx context.Context, c *cronstream.Client) {
	p, err := c.PreviewSchedule(ctx, cronstream.PreviewRequest{
		Trigger: cronstream.Cron("30 2 * * *", "Europe/Berlin"),
		After:   time.Date(2026, 3, 28, 0, 0, 0, 0, time.UTC), Before: time.Date(2026, 3, 31, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	jump := time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)
	if len(p.Instants) != 3 || !p.Instants[1].Time.Equal(jump) || !p.Instants[1].Shifted ||
		p.Instants[1].ScheduledWallTime != "02:30" || p.Instants[1].Local.Format(time.RFC3339) != "2026-03-29T03:00:00+02:00" {
		t.Errorf("instants = %+v, want 02:30 shifted to the jump on the 29th", p.Instants)
	}
	if len(p.Summary.ClockChanges) != 1 || !p.Summary.ClockChanges[0].At.Equal(jump) ||
		!slices.Equal(p.Summary.InstantsPerMonth, []cronstream.MonthCount{{Month: "2026-03", Count: 3}}) || p.Summary.Truncated {
		t.Errorf("summary = %+v", p.Summary)
	}
}

func liveRateLimits(t *testing.T, ctx context.Context, c *cronstream.Client, name string) {
	key := cronstream.KeyScope(name + ":{payload.id}")
	set, err := c.SetRateLimit(ctx, cronstream.RateLimit{RateLimitScope: key, Limit: 10, Per: time.Second})
	if err != nil || set.Key != key.Key || set.Limit != 10 || set.Per != time.Second || set.Burst != 10 || set.CreatedAt.IsZero() {
		t.Fatalf("SetRateLimit = %+v, %v; want burst defaulting to the limit", set, err)
	}
	limits, err := c.ListRateLimits(ctx)
	if err != nil || !slices.ContainsFunc(limits, func(r cronstream.RateLimit) bool { return r.Key == key.Key }) {
		t.Errorf("ListRateLimits = %+v, %v; want %q in it", limits, err, key.Key)
	}
	if err := c.DeleteRateLimit(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRateLimit(ctx, key); !errors.Is(err, cronstream.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}
}

func liveJobLimits(t *testing.T, ctx context.Context, c *cronstream.Client, name string) {
	upstream := mustCreate(t, ctx, c, cronstream.Job{Name: name + "-extract", Handler: "h", Trigger: cronstream.Cron(yearly, "")})
	job := mustCreate(t, ctx, c, cronstream.Job{
		Name: name + "-load", Handler: "h", Trigger: cronstream.Cron(yearly, ""),
		Concurrency:  &cronstream.ConcurrencyLimit{Key: "warehouse", Limit: 2},
		RateLimitKey: "customer:{payload.id}", DependsOn: []string{upstream.ID}, MaxWait: 2 * time.Hour,
	})
	got, err := c.GetJob(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Concurrency == nil || *got.Concurrency != (cronstream.ConcurrencyLimit{Key: "warehouse", Limit: 2}) ||
		got.RateLimitKey != "customer:{payload.id}" || !slices.Equal(got.DependsOn, []string{upstream.ID}) || got.MaxWait != 2*time.Hour {
		t.Errorf("job read back = %+v", got)
	}
}
