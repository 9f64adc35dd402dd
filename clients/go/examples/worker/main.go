// Command worker is a runnable Cronstream worker with one handler,
// "say_hello" (the handler of the job `make run` suggests creating).
//
//	CRONSTREAM_ADDR=127.0.0.1:50051 CRONSTREAM_API_KEY=cs_... go run ./examples/worker
//
// CRONSTREAM_TLS=1 connects over TLS. Ctrl-C stops it gracefully: running
// handlers finish and their results are delivered first.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

func main() {
	if err := run(); err != nil {
		slog.Error("worker failed", "error", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := []cronstream.Option{cronstream.WithAPIKey(os.Getenv("CRONSTREAM_API_KEY"))}
	if os.Getenv("CRONSTREAM_TLS") == "" {
		opts = append(opts, cronstream.WithInsecure())
	}
	client, err := cronstream.Dial(ctx, envOr("CRONSTREAM_ADDR", "127.0.0.1:50051"), opts...)
	if err != nil {
		return err
	}
	defer client.Close()

	w := cronstream.NewWorker(client, cronstream.WorkerOptions{Slots: 4, GracePeriod: 20 * time.Second})
	w.Handle("say_hello", sayHello)
	slog.Info("worker running; Ctrl-C to stop")
	return w.Run(ctx)
}

func sayHello(ctx context.Context, job *cronstream.Context) (map[string]any, error) {
	name, _ := job.Payload["name"].(string)
	if name == "" {
		name = "world"
	}
	job.Log(cronstream.LevelInfo, fmt.Sprintf("saying hello to %s (attempt %d)", name, job.Attempt))
	select {
	case <-time.After(100 * time.Millisecond): // the work
	case <-ctx.Done(): // cancelled by the server, or past the deadline
		return nil, context.Cause(ctx)
	}
	return map[string]any{"greeting": "hello, " + name}, nil
}

func envOr(key, fallback string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return fallback
}
