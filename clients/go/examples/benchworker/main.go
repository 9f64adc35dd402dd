// Command benchworker is the no-op worker Cronstream's benchmarks run (see
// bench/ at the repository root), on this client.
//
//	benchworker TARGET API_KEY HANDLER SLOTS [RECORD_FILE]
//
// Each run appends "execution_id scheduled_at_us started_us" to RECORD_FILE,
// written when the worker stops on SIGTERM.
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

func main() {
	if len(os.Args) < 5 {
		log.Fatal("usage: benchworker TARGET API_KEY HANDLER SLOTS [RECORD_FILE]")
	}
	target, key, handler := os.Args[1], os.Args[2], os.Args[3]
	slots, err := strconv.Atoi(os.Args[4])
	if err != nil {
		log.Fatalf("slots: %v", err)
	}
	var record string
	if len(os.Args) > 5 {
		record = os.Args[5]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	client, err := cronstream.Dial(ctx, target, cronstream.WithAPIKey(key), cronstream.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	var mu sync.Mutex
	var runs []string
	w := cronstream.NewWorker(client, cronstream.WorkerOptions{
		WorkerID: fmt.Sprintf("bench-go-%d", os.Getpid()), Slots: slots, GracePeriod: 5 * time.Second,
	})
	w.Handle(handler, func(_ context.Context, job *cronstream.Context) (map[string]any, error) {
		if record != "" {
			line := fmt.Sprintf("%s %d %d\n", job.ExecutionID, job.ScheduledAt.UnixMicro(), time.Now().UnixMicro())
			mu.Lock()
			runs = append(runs, line)
			mu.Unlock()
		}
		return nil, nil
	})
	if err := w.Run(ctx); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
	if record != "" {
		writeRuns(record, runs)
	}
}

func writeRuns(path string, runs []string) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	out := bufio.NewWriter(f)
	for _, line := range runs {
		out.WriteString(line)
	}
	if err := out.Flush(); err != nil {
		log.Fatal(err)
	}
}
