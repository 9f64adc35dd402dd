package cronstream

import (
	"context"
	"errors"
	"iter"
	"strings"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// Alert is a job's departure from its health policy, from the moment it was
// seen until the job was healthy again.
type Alert struct {
	ID, PlatformID, JobID string
	JobName               string // the job's name when the alert opened
	Handler               string
	Kind                  HealthState // HealthLate, HealthMissed, HealthOverrunning or HealthFailing
	State                 AlertState
	OpenedAt              time.Time
	ResolvedAt            time.Time // zero while open
	Reason                string
	ExecutionID           string    // the execution that caused it; empty when none did
	ScheduledAt           time.Time // the slot concerned (late, missed); zero when none is
	PausedJob             bool      // the job paused itself (HealthPolicy.PauseOnFailure)

	pb *cronstreamv1.Alert
}

// Proto returns the generated message as the server returned it.
func (a *Alert) Proto() *cronstreamv1.Alert { return a.pb }

func alertFromProto(m *cronstreamv1.Alert) *Alert {
	return &Alert{
		ID: m.GetId(), PlatformID: m.GetPlatformId(), JobID: m.GetJobId(), JobName: m.GetJobName(),
		Handler: m.GetHandlerName(), Kind: HealthState(m.GetKind()), State: AlertState(m.GetState()),
		OpenedAt: timeOf(m.GetOpenedAt()), ResolvedAt: timeOf(m.GetResolvedAt()), Reason: m.GetReason(),
		ExecutionID: m.GetExecutionId(), ScheduledAt: timeOf(m.GetScheduledAt()), PausedJob: m.GetPausedJob(),
		pb: m,
	}
}

// AlertEvent is an alert's opening or resolution. Cursor increases with
// every event of the platform; WatchAlerts resumes after it.
type AlertEvent struct {
	Cursor int64
	Type   AlertEventType
	Alert  *Alert // as it stood after the change
}

func alertEventFromProto(m *cronstreamv1.AlertEvent) AlertEvent {
	return AlertEvent{Cursor: m.GetCursor(), Type: AlertEventType(m.GetType()), Alert: alertFromProto(m.GetAlert())}
}

// AlertState is whether an alert still holds; String gives "OPEN" or
// "RESOLVED".
type AlertState int32

// The alert states.
const (
	AlertOpen     = AlertState(cronstreamv1.AlertState_ALERT_STATE_OPEN)
	AlertResolved = AlertState(cronstreamv1.AlertState_ALERT_STATE_RESOLVED)
)

func (s AlertState) String() string {
	return strings.TrimPrefix(cronstreamv1.AlertState(s).String(), "ALERT_STATE_")
}

// AlertEventType is what happened to an alert; String gives "OPENED" or
// "RESOLVED".
type AlertEventType int32

// The alert event types.
const (
	AlertEventOpened   = AlertEventType(cronstreamv1.AlertEventType_ALERT_EVENT_TYPE_OPENED)
	AlertEventResolved = AlertEventType(cronstreamv1.AlertEventType_ALERT_EVENT_TYPE_RESOLVED)
)

func (t AlertEventType) String() string {
	return strings.TrimPrefix(cronstreamv1.AlertEventType(t).String(), "ALERT_EVENT_TYPE_")
}

// AlertFilter narrows ListAlerts; the zero value lists all the platform's
// alerts.
type AlertFilter struct {
	JobID    string
	Kinds    []HealthState // any of these
	States   []AlertState  // any of these
	PageSize int
}

// ListAlerts iterates over the alerts matching filter, the most recently
// opened first.
func (c *Client) ListAlerts(ctx context.Context, filter AlertFilter) iter.Seq2[*Alert, error] {
	states := convert(filter.States, func(s AlertState) cronstreamv1.AlertState { return cronstreamv1.AlertState(s) })
	return paginate(ctx, func(ctx context.Context, token string) ([]*Alert, string, error) {
		resp, err := c.Scheduler.ListAlerts(ctx, &cronstreamv1.ListAlertsRequest{
			JobId: filter.JobID, Kinds: healthStates(filter.Kinds), States: states,
			PageSize: int32(filter.PageSize), PageToken: token,
		})
		return convert(resp.GetAlerts(), alertFromProto), resp.GetNextPageToken(), err
	})
}

// watchBackoff spaces the reconnections of WatchAlerts as the worker's are.
var watchBackoff = backoff{base: 100 * time.Millisecond, max: 5 * time.Second}

// WatchAlerts iterates over the platform's alert events as they happen,
// after afterCursor (0: from now on; an event's Cursor from an earlier
// watch: every event since, then the new ones). It holds one WatchAlerts
// stream at a time: when the stream breaks (the server restarts, the
// connection drops...) it opens another after a jittered backoff, resuming
// after the last event it yielded and skipping any it yielded already, so
// each event comes once. A watch from 0 learns from the server's first
// response where "now" was, so it resumes from where it started even before
// its first event.
//
// It ends when the loop breaks, yielding nothing more; when ctx ends,
// yielding ctx's error; and on what reconnecting cannot fix, yielding the
// error: ErrUnauthenticated, ErrInvalidArgument (a negative afterCursor),
// ErrPermissionDenied or ErrUnimplemented.
//
//	for event, err := range client.WatchAlerts(ctx, saved) {
//		if err != nil { return err }
//		fmt.Println(event.Type, event.Alert.Kind, event.Alert.JobName)
//		saved = event.Cursor
//	}
func (c *Client) WatchAlerts(ctx context.Context, afterCursor int64) iter.Seq2[AlertEvent, error] {
	return c.watchAlerts(ctx, afterCursor, watchBackoff)
}

func (c *Client) watchAlerts(ctx context.Context, afterCursor int64, b backoff) iter.Seq2[AlertEvent, error] {
	return func(yield func(AlertEvent, error) bool) {
		w := alertWatch{scheduler: c.Scheduler, cursor: afterCursor}
		failures := 0
		for {
			began := time.Now()
			received, err := w.stream(ctx, yield)
			switch {
			case errors.Is(err, errLoopBroken):
				return
			case ctx.Err() != nil:
				yield(AlertEvent{}, ctx.Err())
				return
			case permanent(err):
				yield(AlertEvent{}, err)
				return
			}
			if received || time.Since(began) > time.Second {
				failures = 0 // a stream that lived: start the backoff over
			}
			delay := b.delay(failures)
			failures++
			if !sleep(ctx, delay) {
				yield(AlertEvent{}, ctx.Err())
				return
			}
		}
	}
}

// errLoopBroken: the caller's range loop stopped.
var errLoopBroken = errors.New("cronstream: loop broken")

// alertWatch is WatchAlerts' position across its streams.
type alertWatch struct {
	scheduler cronstreamv1.SchedulerServiceClient
	cursor    int64 // of the last event yielded, or where a watch from 0 started, or afterCursor
}

// stream runs one stream from w.cursor until it breaks (its error, io.EOF
// for a clean end) or the caller stops (errLoopBroken); received says
// whether any event came on it. A response without an event (a stream from
// 0 saying the cursor it starts after) only moves w.cursor.
func (w *alertWatch) stream(ctx context.Context, yield func(AlertEvent, error) bool) (received bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream whatever ended the loop
	s, err := w.scheduler.WatchAlerts(ctx, &cronstreamv1.WatchAlertsRequest{AfterCursor: w.cursor})
	if err != nil {
		return false, err
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return received, err
		}
		event := resp.GetEvent()
		if event == nil { // where a stream from 0 starts: a reconnection resumes after it
			w.cursor = max(w.cursor, resp.GetCursor())
			continue
		}
		received = true
		cursor := resp.GetCursor()
		if cursor == 0 { // a server older than the response's cursor
			cursor = event.GetCursor()
		}
		if cursor <= w.cursor {
			continue // yielded already, from an earlier stream
		}
		w.cursor = cursor
		if !yield(alertEventFromProto(event), nil) {
			return received, errLoopBroken
		}
	}
}
