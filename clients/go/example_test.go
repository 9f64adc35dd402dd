package cronstream_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	cronstream "github.com/cronstream/cronstream/clients/go"
	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
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

	_, err = client.CreateJob(ctx, &cronstreamv1.Job{
		Name: "nightly report", HandlerName: "send_report",
		Trigger: &cronstreamv1.Job_Cron{Cron: &cronstreamv1.CronTrigger{Expression: "0 3 * * *", Timezone: "Europe/Berlin"}},
	})
	if violations := cronstream.FieldViolations(err); violations != nil {
		fmt.Println("bad job:", violations)
	}
	for j, err := range client.ListJobs(ctx, &cronstreamv1.ListJobsRequest{PageSize: 100}) {
		if err != nil {
			fmt.Println(err)
			break
		}
		fmt.Println(j.GetName(), j.GetNextRun().AsTime())
	}
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
	w.Handle("send_report", func(ctx context.Context, job *cronstream.Job) (map[string]any, error) {
		job.Log(cronstream.LevelInfo, fmt.Sprintf("attempt %d of execution %s", job.Attempt, job.ExecutionID))
		recipient, _ := job.Payload["recipient"].(string)
		sent, err := sendReport(ctx, recipient)
		if errors.Is(err, errNoSuchRecipient) {
			return nil, cronstream.NonRetryable(err) // failed for good: no retry
		}
		if err != nil {
			return nil, err // retried under the job's max_retries and retry_delay
		}
		return map[string]any{"sent": sent}, nil
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		fmt.Println(err)
	}
}
