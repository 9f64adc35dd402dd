package cronstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

func (f *fakeServer) CreateJob(_ context.Context, req *cronstreamv1.CreateJobRequest) (*cronstreamv1.CreateJobResponse, error) {
	if req.GetJob().GetCron().GetExpression() == "61 * * * *" {
		return nil, badRequest("job.cron.expression", "minute 61 is out of range 0-59")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	job := proto.CloneOf(req.GetJob())
	job.Id = fmt.Sprintf("job-%d", len(f.jobs)+1)
	f.jobs = append(f.jobs, job)
	return &cronstreamv1.CreateJobResponse{Job: job}, nil
}

func (f *fakeServer) GetJob(_ context.Context, req *cronstreamv1.GetJobRequest) (*cronstreamv1.GetJobResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, j := range f.jobs {
		if j.GetId() == req.GetId() {
			return &cronstreamv1.GetJobResponse{Job: j}, nil
		}
	}
	return nil, status.Error(codes.NotFound, "job not found")
}

// ListJobs pages with the offset as its token.
func (f *fakeServer) ListJobs(_ context.Context, req *cronstreamv1.ListJobsRequest) (*cronstreamv1.ListJobsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start := 0
	if req.GetPageToken() != "" {
		var err error
		if start, err = strconv.Atoi(req.GetPageToken()); err != nil {
			return nil, badRequest("page_token", "not a token of ours")
		}
	}
	end := min(start+int(req.GetPageSize()), len(f.jobs))
	resp := &cronstreamv1.ListJobsResponse{Jobs: f.jobs[start:end]}
	if end < len(f.jobs) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

func badRequest(field, description string) error {
	st, err := status.New(codes.InvalidArgument, "invalid job").WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}},
	})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

func cronJob(name, expr string) Job {
	return Job{Name: name, Handler: "h", Trigger: Cron(expr, "")}
}

func TestClientSendsKeyAndPagesThroughJobs(t *testing.T) {
	f, c := startFake(t)
	for i := range 5 {
		if _, err := c.CreateJob(t.Context(), cronJob(fmt.Sprint("j", i), "* * * * *")); err != nil {
			t.Fatal(err)
		}
	}
	filter := JobFilter{PageSize: 2}
	var names []string
	for job, err := range c.ListJobs(t.Context(), filter) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, job.Name)
	}
	if fmt.Sprint(names) != "[j0 j1 j2 j3 j4]" {
		t.Errorf("jobs = %v", names)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := len(f.authHeader); got != 5+3 { // 5 creates, 3 pages
		t.Errorf("%d calls seen, want 8", got)
	}
	for _, h := range f.authHeader {
		if h != "Bearer "+testKey {
			t.Errorf("authorization = %q", h)
		}
	}
}

func TestClientStopsPagingWhenTheLoopBreaks(t *testing.T) {
	_, c := startFake(t)
	for i := range 5 {
		if _, err := c.CreateJob(t.Context(), cronJob(fmt.Sprint("j", i), "* * * * *")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range c.ListJobs(t.Context(), JobFilter{PageSize: 2}) {
		n++
		if n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("got %d jobs", n)
	}
}

func TestClientTypedErrors(t *testing.T) {
	_, c := startFake(t)

	_, err := c.CreateJob(t.Context(), cronJob("bad", "61 * * * *"))
	var inv *InvalidArgumentError
	if !errors.As(err, &inv) || !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("CreateJob: %v (%T), want *InvalidArgumentError", err, err)
	}
	if len(inv.Violations) != 1 || inv.Violations[0].Field != "job.cron.expression" {
		t.Errorf("violations = %+v", inv.Violations)
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("status.Code = %v; the status must stay reachable", status.Code(err))
	}

	_, err = c.GetJob(t.Context(), "nope")
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrUnauthenticated) {
		t.Errorf("GetJob: %v, want ErrNotFound", err)
	}

	// The generated clients the Client exposes translate too.
	_, err = c.Scheduler.GetJob(t.Context(), &cronstreamv1.GetJobRequest{Id: "nope"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("Scheduler.GetJob: %v, want ErrNotFound", err)
	}

	_, err = c.Scheduler.ListJobs(t.Context(), &cronstreamv1.ListJobsRequest{PageToken: "x"})
	if v := FieldViolations(err); len(v) == 0 || v[0].Field != "page_token" {
		t.Errorf("ListJobs: %v", err)
	}
}

func TestClientWrongKeyIsUnauthenticated(t *testing.T) {
	f, c := startFake(t)
	f.mu.Lock()
	f.apiKey = "another"
	f.mu.Unlock()
	_, err := c.GetJob(t.Context(), "x")
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("err = %v, want ErrUnauthenticated", err)
	}
}
