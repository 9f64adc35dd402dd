package cronstream

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
)

// handler is what the worker runs: its result goes through encoding/json
// and must come out as a JSON object.
type handler func(ctx context.Context, job *Context) (any, error)

// Handle registers fn on w for jobs whose handler_name is name, with the
// job's JSON payload decoded into a T and fn's result encoded from an R
// (which must encode as a JSON object: a struct or a map). A payload that
// does not decode into T fails the attempt for good, without calling fn:
// a retry would get the same payload. Like [Worker.Handle], it panics on an
// empty name, a nil fn, a name registered twice, or a call after Run.
//
//	type Greet struct{ Name string `json:"name"` }
//	cronstream.Handle(w, "greet", func(ctx context.Context, job *cronstream.Context, in Greet) (map[string]string, error) {
//		return map[string]string{"greeting": "hello, " + in.Name}, nil
//	})
func Handle[T, R any](w *Worker, name string, fn func(ctx context.Context, job *Context, in T) (R, error)) {
	if fn == nil {
		panic("cronstream: Handle needs a name and a function")
	}
	w.register(name, func(ctx context.Context, job *Context) (any, error) {
		var in T
		if err := job.Decode(&in); err != nil {
			return nil, NonRetryable(err)
		}
		return fn(ctx, job, in)
	})
}

// Decode decodes the job's JSON payload into v, as json.Unmarshal does.
func (j *Context) Decode(v any) error {
	raw := []byte("{}")
	if j.raw != nil {
		var err error
		if raw, err = protojson.Marshal(j.raw); err != nil {
			return fmt.Errorf("cronstream: payload of execution %s: %w", j.ExecutionID, err)
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("cronstream: payload of execution %s does not decode into %T: %w", j.ExecutionID, v, err)
	}
	return nil
}
