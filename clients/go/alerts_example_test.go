package cronstream_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

func ExampleClient_WatchAlerts() {
	ctx := context.Background()
	client, err := cronstream.Dial(ctx, "127.0.0.1:50051",
		cronstream.WithAPIKey(os.Getenv("CRONSTREAM_API_KEY")), cronstream.WithInsecure())
	if err != nil {
		panic(err)
	}
	defer client.Close()

	_, err = client.CreateJob(ctx, cronstream.Job{
		Name: "nightly report", Handler: "send_report", Trigger: cronstream.Cron("0 3 * * *", "Europe/Berlin"),
		HealthPolicy: cronstream.HealthPolicy{
			MaxStartDelay:       new(time.Minute), // LATE when not started a minute after 03:00
			MaxDuration:         new(30 * time.Minute),
			ConsecutiveFailures: new(3),
			PauseOnFailure:      new(true),
		},
	})
	if err != nil {
		panic(err)
	}

	var saved int64 // the last cursor handled; keep it to resume after a restart
	for event, err := range client.WatchAlerts(ctx, saved) {
		if err != nil {
			log.Fatal(err) // a wrong key, or ctx ended; a broken stream is resumed, not reported
		}
		fmt.Println(event.Type, event.Alert.Kind, event.Alert.JobName, event.Alert.Reason) // OPENED FAILING nightly report ...
		saved = event.Cursor
	}
}

func ExampleVerifyWebhook() {
	secret := os.Getenv("CRONSTREAM_WEBHOOK_SECRET") // whsec_..., from CreateWebhook
	http.HandleFunc("POST /cronstream", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		event, err := cronstream.VerifyWebhook(secret, r.Header.Get(cronstream.SignatureHeader), body, 0)
		if err != nil { // errors.Is(err, cronstream.ErrInvalidWebhook); ErrWebhookExpired for a replay
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		log.Printf("alert %s %s: job %s is %s (%s)", event.Alert.ID, event.Type, event.Alert.JobName, event.Alert.Kind, event.Alert.Reason)
		w.WriteHeader(http.StatusNoContent) // any 2xx; others are retried
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
