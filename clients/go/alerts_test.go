package cronstream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// fakeAlerts is the fake server's alerts: WatchAlerts sends the events after
// each stream's cursor (a stream from 0 first says it starts after start,
// and sends those after it), and a stream given a budget in breakAfter
// breaks with UNAVAILABLE once it has sent that many events.
type fakeAlerts struct {
	mu         sync.Mutex
	events     []*cronstreamv1.AlertEvent // cursors 1, 2, 3...
	start      int64                      // "now", for a stream from 0
	legacy     bool                       // a server from before WatchAlertsResponse.cursor: no start, no cursor
	breakAfter []int                      // per stream, in order; then never
	cursors    []int64                    // each stream's after_cursor
	ended      chan struct{}              // a stream's client went away
	list       []*cronstreamv1.Alert
	listed     []*cronstreamv1.ListAlertsRequest
}

func fakeEvent(cursor int64) *cronstreamv1.AlertEvent {
	return &cronstreamv1.AlertEvent{
		Cursor: cursor, Type: cronstreamv1.AlertEventType_ALERT_EVENT_TYPE_OPENED,
		Alert: &cronstreamv1.Alert{Id: fmt.Sprint("a", cursor), Kind: cronstreamv1.HealthState_HEALTH_STATE_LATE},
	}
}

func (a *fakeAlerts) setEvents(n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = nil
	for i := range n {
		a.events = append(a.events, fakeEvent(int64(i+1)))
	}
}

func (f *fakeServer) WatchAlerts(req *cronstreamv1.WatchAlertsRequest, stream grpc.ServerStreamingServer[cronstreamv1.WatchAlertsResponse]) error {
	a := &f.alerts
	if req.GetAfterCursor() < 0 {
		return status.Error(codes.InvalidArgument, "after_cursor must not be negative")
	}
	a.mu.Lock()
	a.cursors = append(a.cursors, req.GetAfterCursor())
	budget := -1
	if len(a.breakAfter) > 0 {
		budget, a.breakAfter = a.breakAfter[0], a.breakAfter[1:]
	}
	after := req.GetAfterCursor()
	fromNow := after == 0 && !a.legacy
	if fromNow {
		after = a.start
	}
	events := slices.Clone(a.events[min(int(after), len(a.events)):])
	legacy, ended := a.legacy, a.ended
	a.mu.Unlock()
	if fromNow {
		if err := stream.Send(&cronstreamv1.WatchAlertsResponse{Cursor: after}); err != nil {
			return err
		}
	}
	for _, e := range events {
		if budget == 0 {
			return status.Error(codes.Unavailable, "going away")
		}
		resp := &cronstreamv1.WatchAlertsResponse{Event: e, Cursor: e.GetCursor()}
		if legacy {
			resp.Cursor = 0
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
		budget--
	}
	<-stream.Context().Done()
	if ended != nil {
		ended <- struct{}{}
	}
	return nil
}

func (f *fakeServer) ListAlerts(_ context.Context, req *cronstreamv1.ListAlertsRequest) (*cronstreamv1.ListAlertsResponse, error) {
	a := &f.alerts
	a.mu.Lock()
	defer a.mu.Unlock()
	a.listed = append(a.listed, req)
	start, _ := strconv.Atoi(req.GetPageToken())
	end := min(start+int(req.GetPageSize()), len(a.list))
	resp := &cronstreamv1.ListAlertsResponse{Alerts: a.list[start:end]}
	if end < len(a.list) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

var fastBackoff = backoff{base: time.Millisecond, max: 5 * time.Millisecond}

// take reads n events from seq, failing on an error or after 5 s.
func take(t *testing.T, seq func(func(AlertEvent, error) bool), n int) []int64 {
	t.Helper()
	done := make(chan []int64, 1)
	go func() {
		var cursors []int64
		for e, err := range seq {
			if err != nil {
				t.Errorf("after %v: %v", cursors, err)
				break
			}
			if cursors = append(cursors, e.Cursor); len(cursors) == n {
				break
			}
		}
		done <- cursors
	}()
	select {
	case got := <-done:
		return got
	case <-time.After(5 * time.Second):
		t.Fatalf("fewer than %d events within 5 s", n)
		return nil
	}
}

func TestWatchAlertsResumesAfterTheLastEventYielded(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(7)
	f.alerts.breakAfter = []int{2, 0, 3}
	got := take(t, c.watchAlerts(t.Context(), 0, fastBackoff), 7)
	if want := []int64{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(got, want) {
		t.Errorf("events %v, want %v: each once, in order", got, want)
	}
	f.alerts.mu.Lock()
	defer f.alerts.mu.Unlock()
	if want := []int64{0, 2, 2, 5}; !slices.Equal(f.alerts.cursors, want) {
		t.Errorf("streams opened after %v, want %v", f.alerts.cursors, want)
	}
}

func TestWatchAlertsFromNowResumesAfterItsStartBeforeAnyEvent(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(8)
	f.alerts.start = 7             // the first stream says it starts after 7...
	f.alerts.breakAfter = []int{0} // ...and breaks before event 8
	got := take(t, c.watchAlerts(t.Context(), 0, fastBackoff), 1)
	if !slices.Equal(got, []int64{8}) {
		t.Errorf("events %v, want [8]", got)
	}
	f.alerts.mu.Lock()
	defer f.alerts.mu.Unlock()
	if want := []int64{0, 7}; !slices.Equal(f.alerts.cursors, want) {
		t.Errorf("streams opened after %v, want %v: the reconnection resumes after the start", f.alerts.cursors, want)
	}
}

func TestWatchAlertsReadsAServerWithoutResponseCursors(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(3)
	f.alerts.legacy = true
	f.alerts.breakAfter = []int{2}
	if got := take(t, c.watchAlerts(t.Context(), 0, fastBackoff), 3); !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("events %v, want [1 2 3]", got)
	}
	f.alerts.mu.Lock()
	defer f.alerts.mu.Unlock()
	if want := []int64{0, 2}; !slices.Equal(f.alerts.cursors, want) {
		t.Errorf("streams opened after %v, want %v: the events' own cursors", f.alerts.cursors, want)
	}
}

func TestWatchAlertsSkipsEventsItYieldedAlready(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(3)
	f.alerts.events = append(f.alerts.events, fakeEvent(2), fakeEvent(4)) // a server repeating itself
	if got := take(t, c.watchAlerts(t.Context(), 1, fastBackoff), 3); !slices.Equal(got, []int64{2, 3, 4}) {
		t.Errorf("events %v, want [2 3 4]", got)
	}
}

func TestWatchAlertsEndsOnWhatReconnectingCannotFix(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(1)
	for name, tc := range map[string]struct {
		client *Client
		after  int64
		want   error
	}{
		"wrong key":       {NewClient(clientConn(t, c), "wrong"), 0, ErrUnauthenticated},
		"negative cursor": {c, -1, ErrInvalidArgument},
	} {
		var errs []error
		for _, err := range tc.client.watchAlerts(t.Context(), tc.after, fastBackoff) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], tc.want) {
			t.Errorf("%s: yielded %v, want one %v", name, errs, tc.want)
		}
	}
	if len(f.alerts.cursors) != 0 {
		t.Errorf("streams served after %v; want none (no retry)", f.alerts.cursors)
	}
}

// clientConn is the connection under c, for another client with another key.
func clientConn(t *testing.T, c *Client) *grpc.ClientConn {
	t.Helper()
	if c.conn == nil {
		t.Fatal("the client has no connection of its own")
	}
	return c.conn
}

func TestWatchAlertsEndsWithItsContext(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var errs []error
	for e, err := range c.watchAlerts(ctx, 0, fastBackoff) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e.Cursor == 1 {
			cancel()
		}
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Errorf("yielded %v, want context.Canceled once", errs)
	}
}

func TestBreakingTheLoopClosesTheStream(t *testing.T) {
	f, c := startFake(t)
	f.alerts.setEvents(2)
	f.alerts.ended = make(chan struct{}, 1)
	for range c.WatchAlerts(t.Context(), 0) {
		break
	}
	select {
	case <-f.alerts.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream is still open 5 s after the loop broke")
	}
}

func TestListAlertsFiltersAndPages(t *testing.T) {
	f, c := startFake(t)
	opened := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	for i := range 3 {
		f.alerts.list = append(f.alerts.list, &cronstreamv1.Alert{
			Id: fmt.Sprint("a", i), JobId: "j1", Kind: cronstreamv1.HealthState_HEALTH_STATE_FAILING,
			State: cronstreamv1.AlertState_ALERT_STATE_RESOLVED, OpenedAt: timestamppb.New(opened),
			ResolvedAt: timestamppb.New(opened.Add(time.Minute)), PausedJob: true,
		})
	}
	filter := AlertFilter{JobID: "j1", Kinds: []HealthState{HealthFailing}, States: []AlertState{AlertResolved}, PageSize: 2}
	var ids []string
	for a, err := range c.ListAlerts(t.Context(), filter) {
		if err != nil {
			t.Fatal(err)
		}
		if a.Kind != HealthFailing || a.State != AlertResolved || !a.OpenedAt.Equal(opened) ||
			a.ResolvedAt.Sub(a.OpenedAt) != time.Minute || !a.ScheduledAt.IsZero() || !a.PausedJob {
			t.Errorf("alert %+v", a)
		}
		ids = append(ids, a.ID)
	}
	if !slices.Equal(ids, []string{"a0", "a1", "a2"}) || len(f.alerts.listed) != 2 {
		t.Errorf("alerts %v in %d pages, want a0..a2 in 2", ids, len(f.alerts.listed))
	}
	req := f.alerts.listed[0]
	if req.GetJobId() != "j1" || !slices.Equal(req.GetKinds(), []cronstreamv1.HealthState{cronstreamv1.HealthState_HEALTH_STATE_FAILING}) ||
		!slices.Equal(req.GetStates(), []cronstreamv1.AlertState{cronstreamv1.AlertState_ALERT_STATE_RESOLVED}) {
		t.Errorf("request %v", req)
	}
}

func TestHealthAndAlertNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		HealthHealthy: "HEALTHY", HealthLate: "LATE", HealthMissed: "MISSED", HealthOverrunning: "OVERRUNNING",
		HealthFailing: "FAILING", HealthState(0): "UNSPECIFIED",
		AlertOpen: "OPEN", AlertResolved: "RESOLVED", AlertEventOpened: "OPENED", AlertEventResolved: "RESOLVED",
	} {
		if v.String() != want {
			t.Errorf("%T %d: String() = %q, want %q", v, v, v, want)
		}
	}
}

func TestHealthPolicyRoundTrip(t *testing.T) {
	if m := (&Job{}).Proto(); m.HealthPolicy != nil {
		t.Errorf("a job without a policy sends %v, want none", m.HealthPolicy)
	}
	policy := HealthPolicy{MaxStartDelay: new(time.Duration(0)), MaxDuration: new(90 * time.Second),
		ConsecutiveFailures: new(1), PauseOnFailure: new(true)}
	m := (&Job{HealthPolicy: policy}).Proto().GetHealthPolicy()
	if m.GetMaxStartDelay() == nil || m.GetMaxStartDelay().AsDuration() != 0 { // zero is sent: it turns LATE off
		t.Errorf("max_start_delay = %v, want 0s", m.GetMaxStartDelay())
	}
	if m.GetMaxDuration().AsDuration() != 90*time.Second || m.ConsecutiveFailures == nil || m.GetConsecutiveFailures() != 1 ||
		m.AlertOnMissed != nil || !m.GetPauseOnFailure() {
		t.Errorf("policy sent = %v", m)
	}
	back := jobFromProto(&cronstreamv1.Job{HealthPolicy: m}).HealthPolicy
	if *back.MaxStartDelay != 0 || *back.MaxDuration != 90*time.Second || *back.ConsecutiveFailures != 1 ||
		back.AlertOnMissed != nil || !*back.PauseOnFailure {
		t.Errorf("read back %+v", back)
	}
	*back.PauseOnFailure = false
	if !m.GetPauseOnFailure() {
		t.Error("the struct read back shares its pointers with the message")
	}
}

func TestJobHealthReadsAsGoValues(t *testing.T) {
	since := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	j := jobFromProto(&cronstreamv1.Job{
		Health:       &cronstreamv1.JobHealth{State: cronstreamv1.HealthState_HEALTH_STATE_FAILING, Since: timestamppb.New(since), Reason: "1 failure"},
		HealthPolicy: &cronstreamv1.HealthPolicy{MaxDuration: durationpb.New(time.Minute)},
	})
	if j.Health != (JobHealth{HealthFailing, since, "1 failure"}) || *j.HealthPolicy.MaxDuration != time.Minute {
		t.Errorf("health %+v, policy %+v", j.Health, j.HealthPolicy)
	}
	if h := jobFromProto(&cronstreamv1.Job{}).Health; h != (JobHealth{}) {
		t.Errorf("a server without health: %+v, want the zero value", h)
	}
}
