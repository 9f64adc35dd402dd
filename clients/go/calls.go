package cronstream

import (
	"context"
	"iter"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// CreateJob creates job and returns it as stored, with its ID, Status and
// NextRun. For an idempotency key, call c.Scheduler.CreateJob with
// job.Proto() and a request_id.
func (c *Client) CreateJob(ctx context.Context, job Job) (*Job, error) {
	m, err := job.toProto()
	if err != nil {
		return nil, err
	}
	resp, err := c.Scheduler.CreateJob(ctx, &cronstreamv1.CreateJobRequest{Job: m})
	if err != nil {
		return nil, err
	}
	return jobFromProto(resp.GetJob()), nil
}

// GetJob returns the job with id id.
func (c *Client) GetJob(ctx context.Context, id string) (*Job, error) {
	resp, err := c.Scheduler.GetJob(ctx, &cronstreamv1.GetJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return jobFromProto(resp.GetJob()), nil
}

// DeleteJob deletes the job with id id.
func (c *Client) DeleteJob(ctx context.Context, id string) error {
	_, err := c.Scheduler.DeleteJob(ctx, &cronstreamv1.DeleteJobRequest{Id: id})
	return err
}

// RunJob runs a job now, outside its schedule, and returns the new pending
// execution.
func (c *Client) RunJob(ctx context.Context, id string) (*Execution, error) {
	resp, err := c.Scheduler.RunJob(ctx, &cronstreamv1.RunJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return executionFromProto(resp.GetExecution()), nil
}

// GetExecution returns the execution with id id.
func (c *Client) GetExecution(ctx context.Context, id string) (*Execution, error) {
	resp, err := c.Scheduler.GetExecution(ctx, &cronstreamv1.GetExecutionRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return executionFromProto(resp.GetExecution()), nil
}

// JobFilter narrows ListJobs; the zero value lists every job.
type JobFilter struct {
	Handler  string
	Statuses []JobStatus   // any of these
	Tags     []string      // all of these
	Healths  []HealthState // any of these
	PageSize int           // jobs fetched per call; 0: the server's default
}

// ListJobs iterates over the jobs matching filter, newest first, fetching
// page after page. An error ends the iteration.
//
//	for job, err := range client.ListJobs(ctx, cronstream.JobFilter{}) { ... }
func (c *Client) ListJobs(ctx context.Context, filter JobFilter) iter.Seq2[*Job, error] {
	statuses := make([]cronstreamv1.JobStatus, len(filter.Statuses))
	for i, s := range filter.Statuses {
		statuses[i] = cronstreamv1.JobStatus(s)
	}
	return paginate(ctx, func(ctx context.Context, token string) ([]*Job, string, error) {
		resp, err := c.Scheduler.ListJobs(ctx, &cronstreamv1.ListJobsRequest{
			PageSize: int32(filter.PageSize), PageToken: token,
			Statuses: statuses, HandlerName: filter.Handler, Tags: filter.Tags,
			Healths: healthStates(filter.Healths),
		})
		return convert(resp.GetJobs(), jobFromProto), resp.GetNextPageToken(), err
	})
}

// ExecutionFilter narrows ListExecutions; the zero value lists all the
// platform's executions.
type ExecutionFilter struct {
	JobID    string
	Statuses []ExecutionStatus // any of these
	PageSize int
}

// ListExecutions iterates over the executions matching filter, newest first.
func (c *Client) ListExecutions(ctx context.Context, filter ExecutionFilter) iter.Seq2[*Execution, error] {
	statuses := make([]cronstreamv1.ExecutionStatus, len(filter.Statuses))
	for i, s := range filter.Statuses {
		statuses[i] = cronstreamv1.ExecutionStatus(s)
	}
	return paginate(ctx, func(ctx context.Context, token string) ([]*Execution, string, error) {
		resp, err := c.Scheduler.ListExecutions(ctx, &cronstreamv1.ListExecutionsRequest{
			JobId: filter.JobID, Statuses: statuses, PageSize: int32(filter.PageSize), PageToken: token,
		})
		return convert(resp.GetExecutions(), executionFromProto), resp.GetNextPageToken(), err
	})
}

// ListExecutionLogs iterates over an execution's log lines, oldest first.
func (c *Client) ListExecutionLogs(ctx context.Context, executionID string) iter.Seq2[LogLine, error] {
	return paginate(ctx, func(ctx context.Context, token string) ([]LogLine, string, error) {
		req := &cronstreamv1.ListExecutionLogsRequest{ExecutionId: executionID, PageToken: token}
		resp, err := c.Scheduler.ListExecutionLogs(ctx, req)
		return convert(resp.GetLogs(), logLineFromProto), resp.GetNextPageToken(), err
	})
}

func convert[M, T any](ms []M, f func(M) T) []T {
	out := make([]T, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

// paginate yields the items of page after page until a page comes back
// with no next_page_token; a failed fetch yields (zero, err) and stops.
func paginate[T any](ctx context.Context, fetch func(context.Context, string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		token := ""
		for {
			items, next, err := fetch(ctx, token)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}
