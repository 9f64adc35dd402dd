package cronstream

import (
	"context"
	"iter"

	"google.golang.org/protobuf/proto"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// CreateJob creates job and returns it as stored, with its id, status and
// next_run. For an idempotency key, call c.Scheduler.CreateJob with a
// request_id.
func (c *Client) CreateJob(ctx context.Context, job *cronstreamv1.Job) (*cronstreamv1.Job, error) {
	resp, err := c.Scheduler.CreateJob(ctx, &cronstreamv1.CreateJobRequest{Job: job})
	if err != nil {
		return nil, err
	}
	return resp.GetJob(), nil
}

// GetJob returns the job with id id.
func (c *Client) GetJob(ctx context.Context, id string) (*cronstreamv1.Job, error) {
	resp, err := c.Scheduler.GetJob(ctx, &cronstreamv1.GetJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.GetJob(), nil
}

// RunJob runs a job now, outside its schedule, and returns the new pending
// execution.
func (c *Client) RunJob(ctx context.Context, id string) (*cronstreamv1.Execution, error) {
	resp, err := c.Scheduler.RunJob(ctx, &cronstreamv1.RunJobRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.GetExecution(), nil
}

// GetExecution returns the execution with id id.
func (c *Client) GetExecution(ctx context.Context, id string) (*cronstreamv1.Execution, error) {
	resp, err := c.Scheduler.GetExecution(ctx, &cronstreamv1.GetExecutionRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.GetExecution(), nil
}

// ListJobs iterates over the jobs matching filter (nil: all), newest first,
// fetching page after page of filter.page_size jobs. An error ends the
// iteration.
//
//	for job, err := range client.ListJobs(ctx, nil) { ... }
func (c *Client) ListJobs(ctx context.Context, filter *cronstreamv1.ListJobsRequest) iter.Seq2[*cronstreamv1.Job, error] {
	return paginate(ctx, func(ctx context.Context, token string) ([]*cronstreamv1.Job, string, error) {
		req := &cronstreamv1.ListJobsRequest{}
		if filter != nil {
			req = proto.CloneOf(filter) // the caller's request stays as it was
		}
		req.PageToken = token
		resp, err := c.Scheduler.ListJobs(ctx, req)
		return resp.GetJobs(), resp.GetNextPageToken(), err
	})
}

// ListExecutions iterates over the executions matching filter (nil: all of
// the platform's), newest first.
func (c *Client) ListExecutions(ctx context.Context, filter *cronstreamv1.ListExecutionsRequest) iter.Seq2[*cronstreamv1.Execution, error] {
	return paginate(ctx, func(ctx context.Context, token string) ([]*cronstreamv1.Execution, string, error) {
		req := &cronstreamv1.ListExecutionsRequest{}
		if filter != nil {
			req = proto.CloneOf(filter)
		}
		req.PageToken = token
		resp, err := c.Scheduler.ListExecutions(ctx, req)
		return resp.GetExecutions(), resp.GetNextPageToken(), err
	})
}

// ListExecutionLogs iterates over an execution's log lines, oldest first.
func (c *Client) ListExecutionLogs(ctx context.Context, executionID string) iter.Seq2[*cronstreamv1.ExecutionLog, error] {
	return paginate(ctx, func(ctx context.Context, token string) ([]*cronstreamv1.ExecutionLog, string, error) {
		req := &cronstreamv1.ListExecutionLogsRequest{ExecutionId: executionID, PageToken: token}
		resp, err := c.Scheduler.ListExecutionLogs(ctx, req)
		return resp.GetLogs(), resp.GetNextPageToken(), err
	})
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
