package cronstream

import (
	"context"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// PauseJob stops a job firing until ResumeJob, or, when until is not
// zero, until that instant, when it resumes by itself (Job.PausedUntil).
// Pausing a paused job sets its until anew.
func (c *Client) PauseJob(ctx context.Context, id string, until time.Time) (*Job, error) {
	resp, err := c.Scheduler.PauseJob(ctx, &cronstreamv1.PauseJobRequest{Id: id, Until: timestamp(until)})
	if err != nil {
		return nil, err
	}
	return jobFromProto(resp.GetJob()), nil
}

// ResumeJob fires a paused job again from its first slot after now.
func (c *Client) ResumeJob(ctx context.Context, id string) (*Job, error) {
	resp, err := c.Scheduler.ResumeJob(ctx, &cronstreamv1.ResumeJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return jobFromProto(resp.GetJob()), nil
}

// JobSelector says which of the platform's jobs a bulk call acts on. Its
// filters combine with AND; the server refuses the zero value unless All
// is set, so a forgotten filter never pauses the whole platform.
type JobSelector struct {
	Tags       []string // jobs carrying all of these
	Handler    string   // jobs with this handler name
	NamePrefix string   // jobs whose name starts with this (case-sensitive)
	All        bool     // every job of the platform; the other filters must be empty
}

func (s JobSelector) proto() *cronstreamv1.JobSelector {
	return &cronstreamv1.JobSelector{Tags: s.Tags, HandlerName: s.Handler, NamePrefix: s.NamePrefix, All: s.All}
}

// BulkOptions bound one PauseJobs or ResumeJobs call.
type BulkOptions struct {
	// Until is as PauseJob's until (PauseJobs only); zero: until resumed.
	Until time.Time
	// Limit is the most jobs one call changes; 0: the server's default
	// (1,000), at most 10,000.
	Limit int
}

// BulkChange is what one bulk call did: Changed jobs changed by it,
// Remaining matching jobs left for the next call.
type BulkChange struct {
	Changed, Remaining int
}

// PauseJobs pauses the platform's active jobs that match sel, each as
// PauseJob would, at most opts.Limit of them; call again while Remaining
// is not zero, or use PauseMatchingJobs.
func (c *Client) PauseJobs(ctx context.Context, sel JobSelector, opts BulkOptions) (BulkChange, error) {
	resp, err := c.Scheduler.PauseJobs(ctx, &cronstreamv1.PauseJobsRequest{
		Selector: sel.proto(), Until: timestamp(opts.Until), Limit: int32(opts.Limit),
	})
	return BulkChange{int(resp.GetChanged()), int(resp.GetRemaining())}, err
}

// ResumeJobs resumes the platform's paused jobs that match sel, each as
// ResumeJob would, at most opts.Limit of them (opts.Until is not used).
func (c *Client) ResumeJobs(ctx context.Context, sel JobSelector, opts BulkOptions) (BulkChange, error) {
	resp, err := c.Scheduler.ResumeJobs(ctx, &cronstreamv1.ResumeJobsRequest{
		Selector: sel.proto(), Limit: int32(opts.Limit),
	})
	return BulkChange{int(resp.GetChanged()), int(resp.GetRemaining())}, err
}

// PauseMatchingJobs calls PauseJobs until no matching active job remains,
// and returns the jobs paused in all with what remains: zero, unless a
// call paused none (then it stops rather than spin) or failed.
func (c *Client) PauseMatchingJobs(ctx context.Context, sel JobSelector, opts BulkOptions) (BulkChange, error) {
	return untilNoneRemain(func() (BulkChange, error) { return c.PauseJobs(ctx, sel, opts) })
}

// ResumeMatchingJobs calls ResumeJobs until no matching paused job
// remains; as PauseMatchingJobs.
func (c *Client) ResumeMatchingJobs(ctx context.Context, sel JobSelector, opts BulkOptions) (BulkChange, error) {
	return untilNoneRemain(func() (BulkChange, error) { return c.ResumeJobs(ctx, sel, opts) })
}

func untilNoneRemain(call func() (BulkChange, error)) (BulkChange, error) {
	var total BulkChange
	for {
		step, err := call()
		if err != nil {
			return total, err
		}
		total.Changed += step.Changed
		total.Remaining = step.Remaining
		if step.Remaining == 0 || step.Changed == 0 {
			return total, nil
		}
	}
}

// Backfill is what BackfillJob did: the schedule's Instants in the range,
// the executions it Created, and the instants that already had one
// (Existing: from the ticker or an earlier backfill).
type Backfill struct {
	Instants, Created, Existing int
}

// BackfillJob creates an execution (TriggerBackfill) for every instant of
// the job's schedule in [start, end), exactly as the ticker fires them;
// an instant that already has one gets none, so the same backfill twice
// creates nothing. overlap is OverlapAllow (several at once) or
// OverlapBufferOne (one at a time, oldest first); zero: ALLOW when the
// job's own policy is, else BUFFER_ONE.
func (c *Client) BackfillJob(ctx context.Context, id string, start, end time.Time, overlap OverlapPolicy) (Backfill, error) {
	resp, err := c.Scheduler.BackfillJob(ctx, backfillRequest(id, start, end, overlap))
	return Backfill{int(resp.GetInstants()), int(resp.GetCreated()), int(resp.GetExisting())}, err
}

func backfillRequest(id string, start, end time.Time, overlap OverlapPolicy) *cronstreamv1.BackfillJobRequest {
	return &cronstreamv1.BackfillJobRequest{
		Id: id, StartTime: timestamp(start), EndTime: timestamp(end),
		OverlapPolicy: cronstreamv1.OverlapPolicy(overlap),
	}
}
