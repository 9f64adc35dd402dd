package cronstream

import (
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// Trigger says when a job fires: a [CronTrigger], [OnceTrigger],
// [IntervalTrigger] or [EventTrigger], most easily made with [Cron],
// [Once], [Every] or [OnEvent]. A job read from the server carries one of
// these types, to switch on.
type Trigger interface {
	setOn(*cronstreamv1.Job)
}

// CronTrigger fires on a cron schedule in a timezone (see docs/time.md).
type CronTrigger struct {
	Expression string // five fields, or six with leading seconds
	Timezone   string // IANA name such as "Europe/Berlin"; "" is UTC
}

// OnceTrigger fires once, at At (at once if At is past).
type OnceTrigger struct{ At time.Time }

// IntervalTrigger fires at Start, Start+Every... until End or MaxRuns.
type IntervalTrigger struct {
	Every      time.Duration
	Start, End time.Time // zero Start: the creation time; zero End: none
	MaxRuns    int       // 0: no limit
}

// EventTrigger fires whenever TriggerEvent is called with Event.
type EventTrigger struct{ Event string }

// Cron fires on expr in timezone ("" for UTC).
func Cron(expr, timezone string) CronTrigger { return CronTrigger{expr, timezone} }

// Once fires at t.
func Once(t time.Time) OnceTrigger { return OnceTrigger{At: t} }

// Every fires every d, starting now.
func Every(d time.Duration) IntervalTrigger { return IntervalTrigger{Every: d} }

// OnEvent fires on each event named name.
func OnEvent(name string) EventTrigger { return EventTrigger{Event: name} }

func (t CronTrigger) setOn(j *cronstreamv1.Job) {
	j.Trigger = &cronstreamv1.Job_Cron{Cron: &cronstreamv1.CronTrigger{Expression: t.Expression, Timezone: t.Timezone}}
}

func (t OnceTrigger) setOn(j *cronstreamv1.Job) {
	j.Trigger = &cronstreamv1.Job_Once{Once: &cronstreamv1.OnceTrigger{RunAt: timestamp(t.At)}}
}

func (t IntervalTrigger) setOn(j *cronstreamv1.Job) {
	j.Trigger = &cronstreamv1.Job_Interval{Interval: &cronstreamv1.IntervalTrigger{
		Every: durationProto(t.Every), StartAt: timestamp(t.Start), EndAt: timestamp(t.End), MaxRuns: int32(t.MaxRuns),
	}}
}

func (t EventTrigger) setOn(j *cronstreamv1.Job) {
	j.Trigger = &cronstreamv1.Job_Event{Event: &cronstreamv1.EventTrigger{EventName: t.Event}}
}

func triggerFromProto(j *cronstreamv1.Job) Trigger {
	switch t := j.GetTrigger().(type) {
	case *cronstreamv1.Job_Cron:
		return Cron(t.Cron.GetExpression(), t.Cron.GetTimezone())
	case *cronstreamv1.Job_Once:
		return Once(timeOf(t.Once.GetRunAt()))
	case *cronstreamv1.Job_Interval:
		i := t.Interval
		return IntervalTrigger{Every: i.GetEvery().AsDuration(), Start: timeOf(i.GetStartAt()),
			End: timeOf(i.GetEndAt()), MaxRuns: int(i.GetMaxRuns())}
	case *cronstreamv1.Job_Event:
		return OnEvent(t.Event.GetEventName())
	}
	return nil
}

// timeOf is ts as a time.Time; absent is the zero time, not the epoch.
func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

// timestamp is t as a Timestamp; the zero time is absent.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// durationProto is d as a Duration; zero is absent (the server's default).
func durationProto(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}
