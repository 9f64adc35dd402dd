package cronstream

import (
	"context"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// PreviewRequest says which instants PreviewSchedule returns: those of
// Trigger, or of the existing job JobID (exactly one), strictly after
// After and strictly before Before.
type PreviewRequest struct {
	Trigger Trigger
	// JobID names an existing job instead of Trigger; its history then
	// predicts overlaps (PreviewSummary.P95Duration).
	JobID string
	// After: zero is now. Before: zero is no end, Count alone bounds them.
	After, Before time.Time
	// Count is the most instants, 1 to 1000; 0: the server's default (10,
	// or 1000 with Before).
	Count int
}

func (r PreviewRequest) proto() *cronstreamv1.PreviewScheduleRequest {
	m := &cronstreamv1.PreviewScheduleRequest{
		JobId: r.JobID, StartTime: timestamp(r.After), EndTime: timestamp(r.Before), Count: int32(r.Count),
	}
	if r.Trigger != nil {
		m.Job = &cronstreamv1.Job{}
		r.Trigger.setOn(m.Job)
	}
	return m
}

// SchedulePreview holds the instants a trigger fires, in increasing order,
// each with its clock marks, and a summary of the range.
type SchedulePreview struct {
	Instants []ScheduledInstant
	Summary  PreviewSummary

	pb *cronstreamv1.PreviewScheduleResponse
}

// Proto returns the generated message as the server returned it.
func (p *SchedulePreview) Proto() *cronstreamv1.PreviewScheduleResponse { return p.pb }

// Times returns the instants alone.
func (p *SchedulePreview) Times() []time.Time {
	return convert(p.pb.GetTimes(), timeOf)
}

// ScheduledInstant is one instant a schedule fires and what the zone's
// clock does to it.
type ScheduledInstant struct {
	Time time.Time // in UTC
	// Local is the same instant on the zone's wall clock, in a fixed zone
	// of the offset then: Local.Format(time.RFC3339) gives
	// "2026-03-29T03:00:00+02:00".
	Local     time.Time
	UTCOffset time.Duration
	// Shifted: a fixed wall time a jump forward skipped, fired at the first
	// instant after the jump (Debian cron's rule, docs/time.md), such as
	// ScheduledWallTime "02:30".
	Shifted           bool
	ScheduledWallTime string
	// RepeatedHour: a wildcard-hour schedule in an hour the clock repeats;
	// this wall time comes twice and fires both times.
	RepeatedHour bool
}

func scheduledInstantFromProto(m *cronstreamv1.ScheduledInstant) ScheduledInstant {
	at := timeOf(m.GetTime())
	offset := time.Duration(m.GetUtcOffsetSeconds()) * time.Second
	local, err := time.Parse(time.RFC3339, m.GetLocalTime())
	if err != nil && !at.IsZero() {
		// The server's text is the reference; its offset says the same.
		local = at.In(time.FixedZone("", int(m.GetUtcOffsetSeconds())))
	}
	return ScheduledInstant{
		Time: at, Local: local, UTCOffset: offset, Shifted: m.GetShifted(),
		ScheduledWallTime: m.GetScheduledWallTime(), RepeatedHour: m.GetRepeatedHour(),
	}
}

// PreviewSummary describes the previewed range as a whole.
type PreviewSummary struct {
	InstantsPerMonth []MonthCount  // in order
	ClockChanges     []ClockChange // every change of the zone's offset, in order
	// P95Duration: for an existing job with successful executions, the
	// 95th percentile of their durations; zero otherwise.
	P95Duration time.Duration
	// PredictedOverlaps: with P95Duration, the instants that come sooner
	// after the one before than it (a run likely still going).
	PredictedOverlaps int
	// Truncated: the preview stopped at its count before Before.
	Truncated bool
}

// MonthCount is how many instants fall in one calendar month ("2026-03")
// of the trigger's zone.
type MonthCount struct {
	Month string
	Count int
}

// ClockChange is a change of the zone's UTC offset within the range.
type ClockChange struct {
	At                        time.Time
	OffsetBefore, OffsetAfter time.Duration
	// SkippedWallTimes ("2026-03-29T02:30") the schedule names near the
	// change that do not fire.
	SkippedWallTimes []string
}

func previewFromProto(m *cronstreamv1.PreviewScheduleResponse) *SchedulePreview {
	s := m.GetSummary()
	return &SchedulePreview{
		Instants: convert(m.GetInstants(), scheduledInstantFromProto),
		Summary: PreviewSummary{
			InstantsPerMonth: convert(s.GetInstantsPerMonth(), func(c *cronstreamv1.MonthCount) MonthCount {
				return MonthCount{c.GetMonth(), int(c.GetCount())}
			}),
			ClockChanges:      convert(s.GetClockChanges(), clockChangeFromProto),
			P95Duration:       s.GetP95Duration().AsDuration(),
			PredictedOverlaps: int(s.GetPredictedOverlaps()),
			Truncated:         s.GetTruncated(),
		},
		pb: m,
	}
}

func clockChangeFromProto(c *cronstreamv1.ClockChange) ClockChange {
	return ClockChange{
		At:               timeOf(c.GetAt()),
		OffsetBefore:     time.Duration(c.GetOffsetBeforeSeconds()) * time.Second,
		OffsetAfter:      time.Duration(c.GetOffsetAfterSeconds()) * time.Second,
		SkippedWallTimes: c.GetSkippedWallTimes(),
	}
}

// PreviewSchedule returns the instants a trigger fires, exactly as the
// engine fires them, with their clock marks and a summary of the range.
//
//	p, err := client.PreviewSchedule(ctx, cronstream.PreviewRequest{
//		Trigger: cronstream.Cron("30 2 * * *", "Europe/Berlin"), After: march1, Before: april1})
func (c *Client) PreviewSchedule(ctx context.Context, req PreviewRequest) (*SchedulePreview, error) {
	resp, err := c.Scheduler.PreviewSchedule(ctx, req.proto())
	if err != nil {
		return nil, err
	}
	return previewFromProto(resp), nil
}
