package cronstream

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// HealthPolicy says when a job is unhealthy (docs/alerts.md); each condition
// opens an alert of its kind. A nil field takes the platform's default (set
// with SetHealthDefaults), else the documented one; on a job read back, nil
// is a field the job left to those defaults.
type HealthPolicy struct {
	// MaxStartDelay: a firing not started this long after its instant makes
	// the job HealthLate. new(time.Duration(0)) turns it off; default: off.
	MaxStartDelay *time.Duration
	// MaxDuration: an execution still running this long makes the job
	// HealthOverrunning. new(time.Duration(0)) turns it off; default: off.
	MaxDuration *time.Duration
	// ConsecutiveFailures: this many finished attempts in a row that failed
	// or timed out make the job HealthFailing (1 to 100; default 3).
	ConsecutiveFailures *int
	// AlertOnMissed: a slot that will not run (skipped by the misfire or the
	// overlap policy) makes the job HealthMissed (default true).
	AlertOnMissed *bool
	// PauseOnFailure: the job pauses itself when it becomes HealthFailing
	// (default false).
	PauseOnFailure *bool
}

// proto is p as sent; nil when p leaves everything to the defaults.
func (p HealthPolicy) proto() *cronstreamv1.HealthPolicy {
	if p == (HealthPolicy{}) {
		return nil
	}
	m := &cronstreamv1.HealthPolicy{AlertOnMissed: clonePtr(p.AlertOnMissed), PauseOnFailure: clonePtr(p.PauseOnFailure)}
	if p.MaxStartDelay != nil {
		m.MaxStartDelay = durationpb.New(*p.MaxStartDelay) // zero included: it means off
	}
	if p.MaxDuration != nil {
		m.MaxDuration = durationpb.New(*p.MaxDuration)
	}
	if p.ConsecutiveFailures != nil {
		m.ConsecutiveFailures = proto.Int32(int32(*p.ConsecutiveFailures))
	}
	return m
}

func healthPolicyFromProto(m *cronstreamv1.HealthPolicy) HealthPolicy {
	if m == nil {
		return HealthPolicy{}
	}
	p := HealthPolicy{AlertOnMissed: clonePtr(m.AlertOnMissed), PauseOnFailure: clonePtr(m.PauseOnFailure)}
	if m.MaxStartDelay != nil {
		p.MaxStartDelay = new(m.GetMaxStartDelay().AsDuration())
	}
	if m.MaxDuration != nil {
		p.MaxDuration = new(m.GetMaxDuration().AsDuration())
	}
	if m.ConsecutiveFailures != nil {
		p.ConsecutiveFailures = new(int(m.GetConsecutiveFailures()))
	}
	return p
}

// clonePtr copies *v, so that a job's struct and its message share nothing.
func clonePtr[T any](v *T) *T {
	if v == nil {
		return nil
	}
	return new(*v)
}

// JobHealth is how a job stands against its health policy: the worst of its
// open alerts, or HealthHealthy.
type JobHealth struct {
	State  HealthState
	Since  time.Time // that alert's opening, or the last resolution; zero when absent
	Reason string    // why, in words; empty when healthy
}

func jobHealthFromProto(m *cronstreamv1.JobHealth) JobHealth {
	return JobHealth{State: HealthState(m.GetState()), Since: timeOf(m.GetSince()), Reason: m.GetReason()}
}

// HealthState is a job's health, and the kind of an alert. String gives
// "HEALTHY", "FAILING"... The zero value is a server that did not say.
type HealthState int32

// The health states; every one but HealthHealthy is also an alert's kind.
const (
	HealthHealthy     = HealthState(cronstreamv1.HealthState_HEALTH_STATE_HEALTHY)
	HealthLate        = HealthState(cronstreamv1.HealthState_HEALTH_STATE_LATE)        // a firing has not started within MaxStartDelay
	HealthMissed      = HealthState(cronstreamv1.HealthState_HEALTH_STATE_MISSED)      // a slot was skipped and will not run
	HealthOverrunning = HealthState(cronstreamv1.HealthState_HEALTH_STATE_OVERRUNNING) // an execution has run longer than MaxDuration
	HealthFailing     = HealthState(cronstreamv1.HealthState_HEALTH_STATE_FAILING)     // ConsecutiveFailures attempts in a row failed
)

func (s HealthState) String() string {
	return strings.TrimPrefix(cronstreamv1.HealthState(s).String(), "HEALTH_STATE_")
}

func healthStates(states []HealthState) []cronstreamv1.HealthState {
	return convert(states, func(s HealthState) cronstreamv1.HealthState { return cronstreamv1.HealthState(s) })
}
