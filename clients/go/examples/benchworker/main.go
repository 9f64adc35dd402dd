// Command benchworker is the no-op worker Cronstream's benchmarks run (see
// bench/ at the repository root), on this client.
//
//	benchworker TARGET API_KEY HANDLER SLOTS [RECORD_FILE [SLEEP_MS]]
//
// Each run appends "execution_id scheduled_at_us started_us" to RECORD_FILE,
// written when the worker stops on SIGTERM (an empty RECORD_FILE records
// nothing). SLEEP_MS, as "MIN-MAX", makes each handler sleep a uniformly
// random MIN to MAX milliseconds after its start is recorded (W3's 10-50 ms
// handlers); without it a handler returns at once (W1, W2).
package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

func main() {
	if len(os.Args) < 5 {
		log.Fatal("usage: benchworker TARGET API_KEY HANDLER SLOTS [RECORD_FILE [SLEEP_MS]]")
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
	var sleepMin, sleepMax int
	if len(os.Args) > 6 {
		sleepMin, sleepMax = parseRange(os.Args[6])
	}
	if path := os.Getenv("CRONSTREAM_BENCH_CPUPROFILE"); path != "" {
		// Where the worker's CPU goes (`go tool pprof`): one file per process.
		stopProfile := profileCPU(fmt.Sprintf("%s.%d", path, os.Getpid()))
		defer stopProfile()
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
	w.Handle(handler, func(ctx context.Context, job *cronstream.Context) (map[string]any, error) {
		if record != "" {
			line := fmt.Sprintf("%s %d %d\n", job.ExecutionID, job.ScheduledAt.UnixMicro(), time.Now().UnixMicro())
			mu.Lock()
			runs = append(runs, line)
			mu.Unlock()
		}
		if sleepMax > 0 {
			pause := time.Duration(sleepMin+rand.IntN(sleepMax-sleepMin+1)) * time.Millisecond
			select {
			case <-time.After(pause):
			case <-ctx.Done():
			}
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

// profileCPU starts a CPU profile into path; the returned func ends it.
func profileCPU(path string) func() {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// parseRange reads "MIN-MAX" (milliseconds, 0 <= MIN <= MAX).
func parseRange(text string) (int, int) {
	low, high, found := strings.Cut(text, "-")
	lo, err1 := strconv.Atoi(low)
	hi, err2 := strconv.Atoi(high)
	if !found || err1 != nil || err2 != nil || lo < 0 || hi < lo {
		log.Fatalf("SLEEP_MS: want MIN-MAX milliseconds, got %q", text)
	}
	return lo, hi
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
