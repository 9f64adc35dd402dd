// Command crosslang is one side of the cross-language test
// (tests/e2e/test_cross_language.py):
//
//	go run ./examples/crosslang ADDRESS API_KEY
//
// It creates one one-time job for each worker language (handler
// "crosslang.<language>", payload {"origin": "go", "target": <language>}),
// prints a line per job, then works "crosslang.go" until it has run four
// executions, one created by each language, and stops gracefully. The
// Python, TypeScript and Java clients carry the same program.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"slices"
	"sync"
	"time"

	cronstream "github.com/cronstream/cronstream/clients/go"
)

const language = "go"

var languages = []string{"python", "go", "typescript", "java"}

// deadline bounds the whole run; the test waits longer, so a hang fails here first.
const deadline = 120 * time.Second

type greeting struct {
	Origin string `json:"origin"`
	Target string `json:"target"`
}

type reply struct {
	Origin string `json:"origin"`
	Worker string `json:"worker"`
}

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: crosslang ADDRESS API_KEY")
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	client, err := cronstream.Dial(ctx, os.Args[1], cronstream.WithAPIKey(os.Args[2]), cronstream.WithInsecure())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()

	for _, target := range languages {
		job, err := client.CreateJob(ctx, cronstream.Job{
			Name:    fmt.Sprintf("crosslang %s to %s", language, target),
			Handler: "crosslang." + target,
			Trigger: cronstream.Once(time.Now().Add(time.Second)),
			Payload: greeting{Origin: language, Target: target},
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("created %s %s %s\n", job.ID, job.Status, job.NextRun.Format(time.RFC3339Nano))
	}

	working, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var origins []string
	w := cronstream.NewWorker(client, cronstream.WorkerOptions{WorkerID: "crosslang-" + language})
	cronstream.Handle(w, "crosslang."+language, func(_ context.Context, run *cronstream.Context, in greeting) (reply, error) {
		if in.Target != language {
			return reply{}, cronstream.NonRetryable(fmt.Errorf("meant for %s", in.Target))
		}
		mu.Lock()
		defer mu.Unlock()
		origins = append(origins, in.Origin)
		fmt.Printf("worked %s from %s\n", run.ExecutionID, in.Origin)
		if len(origins) == len(languages) {
			stop() // Run stops taking work and returns once this result is acknowledged
		}
		return reply{Origin: in.Origin, Worker: language}, nil
	})
	if err := w.Run(working); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	if ctx.Err() != nil {
		log.Fatalf("out of time after %v", origins)
	}
	slices.Sort(origins)
	fmt.Printf("done: %v\n", origins)
}
