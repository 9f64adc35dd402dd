package cronstream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// TestE2E runs the Go client and worker against a live server:
//
//	CRONSTREAM_E2E_ADDR=127.0.0.1:50051 CRONSTREAM_E2E_API_KEY=... go test -run E2E -v ./...
//
// CRONSTREAM_E2E_TLS=1 connects over TLS instead of plaintext.
func TestE2E(t *testing.T) {
	addr := os.Getenv("CRONSTREAM_E2E_ADDR")
	if addr == "" {
		t.Skip("CRONSTREAM_E2E_ADDR is not set: no live Cronstream server to run the end-to-end scenario against")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c := dialE2E(t, ctx, addr)
	name := "go-e2e-" + randomHex(t)
	var failAlerting atomic.Bool
	stopWorker := startE2EWorker(t, c, name, &failAlerting)

	t.Run("alerts watched as they open and resolve", func(t *testing.T) { e2eAlerts(t, ctx, c, name+"-alert", &failAlerting) })
	t.Run("success with logs", func(t *testing.T) { e2eSuccess(t, ctx, c, name) })
	t.Run("retry after a failure", func(t *testing.T) { e2eRetry(t, ctx, c, name+"-retry") })
	t.Run("list jobs in pages", func(t *testing.T) { e2ePaging(t, ctx, c, name+"-page") })
	t.Run("bad cron is a field violation", func(t *testing.T) { e2eBadCron(t, ctx, c, name) })

	if err := stopWorker(); err != nil {
		t.Errorf("worker Run = %v, want nil after a graceful stop", err)
	}
}

func dialE2E(t *testing.T, ctx context.Context, addr string) *cronstream.Client {
	opts := []cronstream.Option{cronstream.WithAPIKey(os.Getenv("CRONSTREAM_E2E_API_KEY"))}
	if os.Getenv("CRONSTREAM_E2E_TLS") == "" {
		opts = append(opts, cronstream.WithInsecure())
	}
	c, err := cronstream.Dial(ctx, addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// startE2EWorker runs a worker with the scenario's handlers; stop ends it
// and returns what Run returned.
func startE2EWorker(t *testing.T, c *cronstream.Client, name string, failAlerting *atomic.Bool) (stop func() error) {
	w := cronstream.NewWorker(c, cronstream.WorkerOptions{
		WorkerID:    name,
		Slots:       4,
		GracePeriod: 10 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	w.Handle(name, func(ctx context.Context, job *cronstream.Context) (map[string]any, error) {
		job.Log(cronstream.LevelInfo, "hello from go")
		return map[string]any{"ok": true, "lang": "go"}, nil
	})
	w.Handle(name+"-retry", func(ctx context.Context, job *cronstream.Context) (map[string]any, error) {
		if job.Attempt == 1 {
			return nil, errors.New("failing attempt 1 on purpose")
		}
		return map[string]any{"attempt": job.Attempt}, nil
	})
	w.Handle(name+"-alert", func(ctx context.Context, job *cronstream.Context) (map[string]any, error) {
		if failAlerting.Load() {
			return nil, errors.New("failing on purpose, to open an alert")
		}
		return map[string]any{}, nil
	})
	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(runCtx) }()
	stopped, result := false, error(nil)
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			result = <-done
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// createJob creates a job and deletes it when the test ends.
func createJob(t *testing.T, ctx context.Context, c *cronstream.Client, job cronstream.Job) *cronstream.Job {
	t.Helper()
	created, err := c.CreateJob(ctx, job)
	if err != nil {
		t.Fatalf("CreateJob(%s): %v", job.Name, err)
	}
	t.Cleanup(func() { _ = c.DeleteJob(context.Background(), created.ID) })
	return created
}

func onceJob(handler string, in time.Duration) cronstream.Job {
	return cronstream.Job{Name: handler, Handler: handler, Trigger: cronstream.Once(time.Now().Add(in))}
}

// finishedExecution polls the job's executions until one is final, and
// returns it as GetExecution has it.
func finishedExecution(t *testing.T, ctx context.Context, c *cronstream.Client, jobID string) *cronstream.Execution {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for time.Now().Before(deadline) {
		for e, err := range c.ListExecutions(ctx, cronstream.ExecutionFilter{JobID: jobID}) {
			if err != nil {
				t.Fatalf("ListExecutions: %v", err)
			}
			if e.Status.Final() {
				got, err := c.GetExecution(ctx, e.ID)
				if err != nil {
					t.Fatalf("GetExecution: %v", err)
				}
				return got
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no execution of job %s finished within 45 s", jobID)
	return nil
}

func e2eSuccess(t *testing.T, ctx context.Context, c *cronstream.Client, handler string) {
	job := createJob(t, ctx, c, onceJob(handler, time.Second))
	e := finishedExecution(t, ctx, c, job.ID)
	if e.Status != cronstream.ExecutionSuccess {
		t.Fatalf("execution %s is %v: %s", e.ID, e.Status, e.Error)
	}
	if r := e.Result; r["ok"] != true || r["lang"] != "go" {
		t.Errorf("result = %v, want {ok: true, lang: go}", r)
	}
	if !hasLogLine(t, ctx, c, e.ID, "hello from go") {
		t.Errorf("the logs of %s lack %q", e.ID, "hello from go")
	}
}

// hasLogLine looks for line among an execution's logs for up to 5 s.
func hasLogLine(t *testing.T, ctx context.Context, c *cronstream.Client, executionID, line string) bool {
	for range 25 {
		for l, err := range c.ListExecutionLogs(ctx, executionID) {
			if err != nil {
				t.Fatalf("ListExecutionLogs: %v", err)
			}
			if l.Message == line {
				return true
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}

func e2eRetry(t *testing.T, ctx context.Context, c *cronstream.Client, handler string) {
	spec := onceJob(handler, time.Second)
	spec.MaxRetries = new(2)
	spec.RetryDelay = time.Second
	job := createJob(t, ctx, c, spec)
	e := finishedExecution(t, ctx, c, job.ID)
	if e.Status != cronstream.ExecutionSuccess {
		t.Fatalf("execution %s is %v: %s", e.ID, e.Status, e.Error)
	}
	if e.Attempt != 2 || e.RetryCount != 1 {
		t.Errorf("attempt %d, retry_count %d; want 2 and 1", e.Attempt, e.RetryCount)
	}
	if got := e.Result["attempt"]; got != 2.0 {
		t.Errorf("result attempt = %v, want 2", got)
	}
}

func e2ePaging(t *testing.T, ctx context.Context, c *cronstream.Client, handler string) {
	for i := range 3 {
		createJob(t, ctx, c, cronstream.Job{
			Name: fmt.Sprintf("%s-%d", handler, i), Handler: handler, Trigger: cronstream.Cron("0 0 1 1 *", ""),
		})
	}
	first, err := c.Scheduler.ListJobs(ctx, &cronstreamv1.ListJobsRequest{PageSize: 2, HandlerName: handler})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.GetJobs()) != 2 || first.GetNextPageToken() == "" {
		t.Fatalf("first page: %d jobs, next_page_token %q; want 2 and a token", len(first.GetJobs()), first.GetNextPageToken())
	}
	var names []string
	for job, err := range c.ListJobs(ctx, cronstream.JobFilter{Handler: handler, PageSize: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, job.Name)
	}
	slices.Sort(names)
	want := []string{handler + "-0", handler + "-1", handler + "-2"}
	if !slices.Equal(names, want) {
		t.Errorf("paged jobs = %v, want %v", names, want)
	}
}

func e2eBadCron(t *testing.T, ctx context.Context, c *cronstream.Client, handler string) {
	_, err := c.CreateJob(ctx, cronstream.Job{Name: handler + "-bad", Handler: handler, Trigger: cronstream.Cron("61 * * * *", "")})
	var inv *cronstream.InvalidArgumentError
	if !errors.As(err, &inv) {
		t.Fatalf("CreateJob with a bad cron: %v (%T), want *InvalidArgumentError", err, err)
	}
	fields := make([]string, len(inv.Violations))
	for i, v := range inv.Violations {
		fields[i] = v.Field
	}
	if !slices.Contains(fields, "job.cron.expression") {
		t.Errorf("violations name %v, want job.cron.expression", fields)
	}
}

// e2eAlerts runs the alerting job once failing, then once succeeding, and
// watches its FAILING alert open, then resolve.
func e2eAlerts(t *testing.T, ctx context.Context, c *cronstream.Client, handler string, fail *atomic.Bool) {
	job := createJob(t, ctx, c, cronstream.Job{
		Name: handler, Handler: handler, Trigger: cronstream.Cron("0 0 1 1 *", ""), MaxRetries: new(0),
		HealthPolicy: cronstream.HealthPolicy{ConsecutiveFailures: new(1)},
	})
	if got := job.HealthPolicy.ConsecutiveFailures; got == nil || *got != 1 || job.Health.State != cronstream.HealthHealthy {
		t.Fatalf("created with policy %+v, health %v; want consecutive failures 1, HEALTHY", job.HealthPolicy, job.Health.State)
	}
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	events := make(chan cronstream.AlertEvent, 8)
	go func() {
		defer close(events)
		for e, err := range c.WatchAlerts(watchCtx, 0) {
			if err != nil {
				if watchCtx.Err() == nil {
					t.Errorf("WatchAlerts: %v", err)
				}
				return
			}
			if e.Alert.JobID == job.ID {
				events <- e
			}
		}
	}()
	// A watch from 0 starts where the server was when it read the request. The
	// iterator takes in the server's start message without yielding it (it
	// yields events only), so there is nothing to wait on: give it that long.
	time.Sleep(500 * time.Millisecond)
	fail.Store(true)
	opened := runAndWatch(t, ctx, c, job.ID, events)
	if opened.Type != cronstream.AlertEventOpened || opened.Alert.Kind != cronstream.HealthFailing || opened.Alert.State != cronstream.AlertOpen {
		t.Fatalf("first event %v %v %v, want OPENED FAILING OPEN", opened.Type, opened.Alert.Kind, opened.Alert.State)
	}
	if got, err := c.GetJob(ctx, job.ID); err != nil || got.Health.State != cronstream.HealthFailing {
		t.Errorf("job health after the failure: %+v, %v; want FAILING", got.Health, err)
	}
	fail.Store(false)
	resolved := runAndWatch(t, ctx, c, job.ID, events)
	if resolved.Type != cronstream.AlertEventResolved || resolved.Alert.ID != opened.Alert.ID || resolved.Cursor <= opened.Cursor ||
		resolved.Alert.ResolvedAt.IsZero() {
		t.Errorf("second event %+v (alert %+v), want the resolution of %s", resolved, resolved.Alert, opened.Alert.ID)
	}
}

// runAndWatch runs the job now and returns the next event of its watch.
func runAndWatch(t *testing.T, ctx context.Context, c *cronstream.Client, jobID string, events <-chan cronstream.AlertEvent) cronstream.AlertEvent {
	t.Helper()
	if _, err := c.RunJob(ctx, jobID); err != nil {
		t.Fatalf("RunJob: %v", err)
	}
	select {
	case e, ok := <-events:
		if !ok {
			t.Fatal("the watch ended")
		}
		return e
	case <-time.After(30 * time.Second):
		t.Fatal("no alert event within 30 s")
		return cronstream.AlertEvent{}
	}
}
