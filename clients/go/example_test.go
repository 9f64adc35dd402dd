package cronstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

func ExampleDial() {
	ctx := context.Background()
	client, err := cronstream.Dial(ctx, "127.0.0.1:50051",
		cronstream.WithAPIKey(os.Getenv("CRONSTREAM_API_KEY")),
		cronstream.WithInsecure())
	if err != nil {
		panic(err)
	}
	defer client.Close()

	job, err := client.CreateJob(ctx, cronstream.Job{
		Name:    "nightly report",
		Handler: "send_report",
		Trigger: cronstream.Cron("0 3 * * *", "Europe/Berlin"),
		Payload: map[string]string{"recipient": "ops@example.com"},
		Timeout: 10 * time.Minute,
	})
	if violations := cronstream.FieldViolations(err); violations != nil {
		fmt.Println("bad job:", violations)
		return
	}
	if err != nil {
		panic(err)
	}
	fmt.Println(job.ID, job.Status, job.NextRun) // ... ACTIVE 2027-01-02 02:00:00 +0000 UTC
	for j, err := range client.ListJobs(ctx, cronstream.JobFilter{Statuses: []cronstream.JobStatus{cronstream.JobActive}}) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(j.Name, j.NextRun)
	}
}

type report struct {
	Recipient string `json:"recipient"`
}

type sent struct {
	Sent int `json:"sent"`
}

var errNoSuchRecipient = errors.New("no such recipient")

func sendReport(context.Context, string) (int, error) { return 1, nil }

func ExampleWorker() {
	client, err := cronstream.Dial(context.Background(), "127.0.0.1:50051",
		cronstream.WithAPIKey(os.Getenv("CRONSTREAM_API_KEY")), cronstream.WithInsecure())
	if err != nil {
		panic(err)
	}
	w := cronstream.NewWorker(client, cronstream.WorkerOptions{WorkerID: "reports-1", Slots: 4})
	cronstream.Handle(w, "send_report", func(ctx context.Context, job *cronstream.Context, in report) (sent, error) {
		job.Log(cronstream.LevelInfo, fmt.Sprintf("attempt %d of execution %s", job.Attempt, job.ExecutionID))
		n, err := sendReport(ctx, in.Recipient)
		if errors.Is(err, errNoSuchRecipient) {
			return sent{}, cronstream.NonRetryable(err) // failed for good: no retry
		}
		return sent{n}, err // an error is retried under the job's max_retries and retry_delay
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		fmt.Println(err)
	}
}
