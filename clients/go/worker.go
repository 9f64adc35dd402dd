package cronstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// WorkerOptions configures a Worker; zero values take the defaults.
type WorkerOptions struct {
	// WorkerID names the worker process to the server; keep it stable
	// across restarts. Default: "<hostname>-<pid>".
	WorkerID string
	// Slots is the most executions the worker runs at once (1 to 10000).
	// Default: 10.
	Slots int
	// GracePeriod is how long Run waits, once its context is cancelled, for
	// running handlers to finish and their results to be acknowledged.
	// Default: 30 s.
	GracePeriod time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// reconnection attempts: after the n-th failure in a row (from 0) it is
	// uniform in [0, min(MaxBackoff, MinBackoff*2^n)], as in every
	// Cronstream client. Defaults: 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the worker's own records: each failed attempt (WARN,
	// ERROR when final) and each success (DEBUG) with its execution_id and
	// attempt, connections (INFO) and reconnections (WARN; INFO after a
	// drain). Default: slog.Default().
	Logger *slog.Logger
	// TracerProvider makes the handler spans. Default: the global provider
	// (otel.GetTracerProvider()) at the time of each span.
	TracerProvider trace.TracerProvider
}

// Worker runs handlers for the executions a Cronstream server assigns. Make
// it with NewWorker, register handlers with Handle, then call Run once.
type Worker struct {
	client   *Client
	opts     WorkerOptions
	log      *slog.Logger
	handlers map[string]handler
	ledger   *ledger
	slots    chan struct{} // a token per running handler
	backoff  backoff

	// handlerCtx is the parent of every handler's context: Run's values,
	// not its cancellation, which only stops the taking of new work.
	handlerCtx     context.Context
	cancelHandlers context.CancelCauseFunc

	mu       sync.Mutex
	started  bool
	stopping bool
	session  *session // the welcomed session, nil while disconnected
}

// Errors of Run.
var (
	// ErrGracePeriodExceeded: Run's context was cancelled and handlers were
	// still running, or results unacknowledged, when the grace period ended.
	ErrGracePeriodExceeded = errors.New("cronstream: grace period exceeded")
	errStopped             = errors.New("cronstream: worker stopped")
)

// NewWorker makes a worker that connects through client.
func NewWorker(client *Client, opts WorkerOptions) *Worker {
	opts = withDefaults(opts)
	return &Worker{
		client:   client,
		opts:     opts,
		log:      opts.Logger,
		handlers: map[string]handler{},
		ledger:   newLedger(),
		backoff:  backoff{base: opts.MinBackoff, max: opts.MaxBackoff},
	}
}

func withDefaults(o WorkerOptions) WorkerOptions {
	if o.WorkerID == "" {
		host, _ := os.Hostname()
		o.WorkerID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Slots == 0 {
		o.Slots = 10
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 30 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Handle registers fn for jobs whose handler_name is name. It panics on an
// empty name, a nil fn, a name registered twice, or a call after Run. See
// the generic [Handle] for a handler with a typed payload and result.
func (w *Worker) Handle(name string, fn HandlerFunc) {
	if fn == nil {
		panic("cronstream: Handle needs a name and a function")
	}
	w.register(name, func(ctx context.Context, job *Context) (any, error) { return fn(ctx, job) })
}

func (w *Worker) register(name string, h handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case name == "":
		panic("cronstream: Handle needs a name and a function")
	case w.started:
		panic("cronstream: Handle called after Run")
	case w.handlers[name] != nil:
		panic("cronstream: handler " + name + " registered twice")
	}
	w.handlers[name] = h
}

func (w *Worker) handlerNames() []string {
	names := make([]string, 0, len(w.handlers))
	for name := range w.handlers {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// Run connects and runs assignments until ctx is cancelled, reconnecting
// with jittered exponential backoff whenever the stream ends. When ctx is
// cancelled it stops taking work (it tells the server its capacity is 0),
// waits up to the grace period for running handlers to finish and for
// their results to be acknowledged, and returns nil, or
// ErrGracePeriodExceeded after cancelling the handlers still running. It
// returns early with the error for what reconnecting cannot fix: a wrong
// API key (ErrUnauthenticated), a rejected hello (ErrInvalidArgument), a
// server without the WorkerService (ErrUnimplemented).
func (w *Worker) Run(ctx context.Context) error {
	if err := w.begin(ctx); err != nil {
		return err
	}
	defer w.cancelHandlers(errStopped)
	life, end := context.WithCancelCause(context.WithoutCancel(ctx))
	defer end(nil)
	go w.stopOnCancel(ctx, life, end)
	err := w.connectLoop(life)
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

// begin validates the worker and makes Run's shared state.
func (w *Worker) begin(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.started:
		return errors.New("cronstream: Run called twice")
	case len(w.handlers) == 0:
		return errors.New("cronstream: no handlers: call Handle before Run")
	case w.opts.Slots < 1 || w.opts.Slots > 10000:
		return fmt.Errorf("cronstream: slots must be 1 to 10000, not %d", w.opts.Slots)
	}
	w.started = true
	w.slots = make(chan struct{}, w.opts.Slots)
	w.handlerCtx, w.cancelHandlers = context.WithCancelCause(context.WithoutCancel(ctx))
	return nil
}

// connectLoop runs session after session until life ends or an error that
// reconnecting cannot fix.
func (w *Worker) connectLoop(life context.Context) error {
	failures := 0
	for {
		began := time.Now()
		welcomed, err := w.runSession(life)
		if life.Err() != nil {
			return context.Cause(life)
		}
		if permanent(err) {
			return err
		}
		if welcomed && time.Since(began) > time.Second {
			failures = 0 // a session that lived: start the backoff over
		}
		delay := w.backoff.delay(failures)
		failures++
		level := slog.LevelWarn
		if errors.Is(err, errDrained) {
			level = slog.LevelInfo // the server asked for it
		}
		w.log.Log(life, level, "cronstream: worker stream ended; reconnecting", "error", err, "in", delay)
		if !sleep(life, delay) {
			return context.Cause(life)
		}
	}
}

func permanent(err error) bool {
	for _, e := range []error{ErrUnauthenticated, ErrPermissionDenied, ErrInvalidArgument, ErrUnimplemented} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// sleep waits d; false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// stopOnCancel runs the graceful stop once ctx is cancelled: no new work,
// then end life when the worker owes nothing or the grace period is over.
func (w *Worker) stopOnCancel(ctx, life context.Context, end context.CancelCauseFunc) {
	select {
	case <-life.Done():
		return
	case <-ctx.Done():
	}
	w.beginStop()
	grace, cancel := context.WithTimeout(life, w.opts.GracePeriod)
	defer cancel()
	if w.ledger.waitIdle(grace) == nil {
		end(errStopped)
		return
	}
	running, unacked := w.ledger.counts()
	w.cancelHandlers(ErrGracePeriodExceeded)
	end(fmt.Errorf("%w (%s): %d executions running, %d results unacknowledged",
		ErrGracePeriodExceeded, w.opts.GracePeriod, running, unacked))
}

// beginStop offers no more slots, now and in any later hello.
func (w *Worker) beginStop() {
	w.mu.Lock()
	w.stopping = true
	s := w.session
	w.mu.Unlock()
	w.log.Info("cronstream: worker stopping", "grace_period", w.opts.GracePeriod)
	if s != nil {
		s.enqueue(capacityMessage(0))
	}
}

func (w *Worker) offeredSlots() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopping {
		return 0
	}
	return int32(w.opts.Slots)
}

// runSession opens a stream and runs it until it ends. welcomed says
// whether the handshake succeeded.
func (w *Worker) runSession(ctx context.Context) (welcomed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stream, err := w.client.Workers.Connect(ctx)
	if err != nil {
		return false, err
	}
	s := newSession(ctx, stream, w.ledger, w.start, w.log)
	if err := s.handshake(ctx, cancel, w.hello()); err != nil {
		return false, err
	}
	w.log.Info("cronstream: worker connected", "session_id", s.id, "heartbeat", s.heartbeat)
	err = s.run(ctx, cancel, func() { w.attach(s) })
	w.detach(s)
	return true, err
}

// hello names the worker, its handlers and what it still answers for.
func (w *Worker) hello() *cronstreamv1.WorkerHello {
	return &cronstreamv1.WorkerHello{
		WorkerId:     w.opts.WorkerID,
		HandlerNames: w.handlerNames(),
		Slots:        w.offeredSlots(),
		Running:      w.ledger.held(),
		// Assignments and acks may come grouped (ConnectResponse_Assignments).
		AcceptsBatches: true,
		// The worker starts each batched assignment at its start_at itself
		// (Worker.start), so the server may send it ahead of its instant.
		HoldsUntilStart: true,
	}
}

// attach routes the worker's messages to s and re-sends the results never
// acknowledged.
func (w *Worker) attach(s *session) {
	w.mu.Lock()
	w.session = s
	stopping := w.stopping
	w.mu.Unlock()
	if stopping {
		s.enqueue(capacityMessage(0)) // hello may have offered slots before the stop
	}
	// From here on a result is either in this snapshot or sent through the
	// session; one in both is sent twice, which the server ignores.
	for _, r := range w.ledger.unacked() {
		if !s.enqueue(resultMessage(r)) {
			break
		}
	}
}

func (w *Worker) detach(s *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.session == s {
		w.session = nil
	}
}

// send hands m to the current session; false while disconnected.
func (w *Worker) send(m *cronstreamv1.ConnectRequest) bool {
	w.mu.Lock()
	s := w.session
	w.mu.Unlock()
	return s != nil && s.enqueue(m)
}
