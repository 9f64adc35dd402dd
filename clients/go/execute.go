package cronstream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

const instrumentationName = "github.com/cronstream/cronstream/clients/go"

// start takes an assignment to start at at (zero: at once): it records the
// attempt and runs it in its own goroutine, which holds it until at, then
// waits for a free slot. A held attempt is running as far as the server is
// concerned (heartbeats and hello.running name it), so the ledger has it
// from now.
func (w *Worker) start(a *cronstreamv1.Assignment, at time.Time) {
	ctx, cancel := context.WithCancelCause(w.handlerCtx)
	if !w.ledger.begin(a.GetExecutionId(), a.GetAttempt(), cancel) {
		cancel(nil) // a repeated assignment of an attempt already running
		return
	}
	go func() {
		defer cancel(nil)
		// What does not depend on the moment of the start is done now, while
		// held: at an instant shared by many assignments, each start then
		// costs only the span and the handler's call.
		p := w.prepare(ctx, a)
		defer p.stop()
		if !at.IsZero() && !sleep(p.ctx, time.Until(at)) {
			w.abandon(p.ctx, a)
			return
		}
		w.execute(p)
	}()
}

// prepared is an attempt ready to start: its context (the server's deadline,
// the execution's remote span) and the handler's view of the assignment.
type prepared struct {
	ctx  context.Context
	stop context.CancelFunc
	a    *cronstreamv1.Assignment
	job  *Context
}

func (w *Worker) prepare(ctx context.Context, a *cronstreamv1.Assignment) *prepared {
	stop := func() {}
	if d := a.GetDeadline(); d != nil {
		ctx, stop = context.WithDeadline(ctx, d.AsTime())
	}
	if a.GetTraceparent() != "" {
		carrier := propagation.MapCarrier{"traceparent": a.GetTraceparent(), "tracestate": a.GetTracestate()}
		ctx = propagation.TraceContext{}.Extract(ctx, carrier)
	}
	return &prepared{ctx: ctx, stop: stop, a: a, job: newContext(a, w.send)}
}

// abandon forgets an attempt cancelled while held (by the server, or by the
// end of a stop's grace period). It never started, so it has no result: the
// next heartbeat leaves it out, which is what confirms a cancel to the
// server.
func (w *Worker) abandon(ctx context.Context, a *cronstreamv1.Assignment) {
	w.ledger.drop(a.GetExecutionId(), a.GetAttempt())
	w.log.DebugContext(ctx, "cronstream: attempt cancelled before its start",
		"execution_id", a.GetExecutionId(), "attempt", a.GetAttempt(), "cause", context.Cause(ctx))
}

// execute runs one prepared attempt and reports its result.
func (w *Worker) execute(p *prepared) {
	ctx, a := p.ctx, p.a
	var out any
	err := w.acquireSlot(ctx)
	if err == nil {
		out, err = w.handle(ctx, a, p.job)
		w.releaseSlot()
	}
	if cause := context.Cause(ctx); err != nil && cause != ctx.Err() && errors.Is(err, ctx.Err()) {
		err = fmt.Errorf("%w (%w)", err, cause) // say why ctx ended
	}
	r := resultOf(a, out, err)
	w.logOutcome(ctx, a, r)
	if w.ledger.finish(r) {
		w.send(resultMessage(r))
	}
}

// logOutcome writes one record per attempt: DEBUG for a success, WARN for
// a failure the server may retry, ERROR for a final one.
func (w *Worker) logOutcome(ctx context.Context, a *cronstreamv1.Assignment, r *cronstreamv1.WorkerResult) {
	attrs := []any{"execution_id", a.GetExecutionId(), "attempt", a.GetAttempt(), "handler", a.GetHandlerName()}
	f := r.GetFailure()
	switch {
	case f == nil:
		w.log.DebugContext(ctx, "cronstream: attempt succeeded", attrs...)
	case f.GetRetryable():
		w.log.WarnContext(ctx, "cronstream: attempt failed; the server may retry it", append(attrs, "error", f.GetError())...)
	default:
		w.log.ErrorContext(ctx, "cronstream: attempt failed for good", append(attrs, "error", f.GetError())...)
	}
}

func (w *Worker) acquireSlot(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (w *Worker) releaseSlot() { <-w.slots }

// handle runs the handler in a span that continues the execution's trace.
func (w *Worker) handle(ctx context.Context, a *cronstreamv1.Assignment, job *Context) (any, error) {
	ctx, span := w.startSpan(ctx, a)
	defer span.End()
	h, ok := w.handlers[a.GetHandlerName()]
	if !ok {
		return nil, fmt.Errorf("cronstream: worker %q has no handler %q", w.opts.WorkerID, a.GetHandlerName())
	}
	out, err := invoke(ctx, h, job)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(otelcodes.Error, err.Error())
	}
	return out, err
}

// startSpan starts the attempt's span under ctx, which carries the
// execution's remote span (prepare extracted it).
func (w *Worker) startSpan(ctx context.Context, a *cronstreamv1.Assignment) (context.Context, trace.Span) {
	tp := w.opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider() // read late: the app may set it after NewWorker
	}
	tracer := tp.Tracer(instrumentationName, trace.WithInstrumentationVersion(Version))
	// OpenTelemetry's messaging conventions: the processing of a message (the
	// execution) from a destination (the handler), a child of the server's
	// "send <handler>" span.
	return tracer.Start(ctx, "process "+a.GetHandlerName(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "cronstream"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.operation.name", "process"),
			attribute.String("messaging.destination.name", a.GetHandlerName()),
			attribute.String("messaging.message.id", a.GetExecutionId()),
			attribute.String("cronstream.job.id", a.GetJobId()),
			attribute.Int("cronstream.execution.attempt", int(a.GetAttempt())),
		))
}

// panicError is a handler's panic, reported with its stack.
type panicError struct {
	value any
	stack string
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// invoke calls h, turning a panic into a *panicError.
func invoke(ctx context.Context, h handler, job *Context) (out any, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, &panicError{value: v, stack: string(debug.Stack())}
		}
	}()
	return h(ctx, job)
}

// resultOf is the result message of an attempt that returned out and err.
func resultOf(a *cronstreamv1.Assignment, out any, err error) *cronstreamv1.WorkerResult {
	r := &cronstreamv1.WorkerResult{ExecutionId: a.GetExecutionId(), Attempt: a.GetAttempt()}
	if err == nil {
		s, perr := toStruct(out)
		if perr == nil {
			r.Outcome = &cronstreamv1.WorkerResult_Success{Success: &cronstreamv1.ResultSuccess{Result: s}}
			return r
		}
		err = NonRetryable(fmt.Errorf("handler result: %w", perr)) // a retry would return it again
	}
	r.Outcome = &cronstreamv1.WorkerResult_Failure{Failure: failureOf(err)}
	return r
}

func failureOf(err error) *cronstreamv1.ResultFailure {
	f := &cronstreamv1.ResultFailure{
		Error:     err.Error(),
		Retryable: proto.Bool(!IsNonRetryable(err)),
	}
	var p *panicError
	if errors.As(err, &p) {
		f.ErrorStack = p.stack
	} else if detail := fmt.Sprintf("%+v", err); detail != f.Error {
		f.ErrorStack = detail // errors that format a stack with %+v
	}
	return f
}
