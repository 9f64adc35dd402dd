package cronstream

import (
	"strings"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// Priority orders dispatch: higher priorities are assigned to workers
// first. String gives "LOW", "HIGH"... The zero value leaves it to the
// server, which defaults to PriorityMedium.
type Priority int32

// The priorities, lowest first.
const (
	PriorityLow      = Priority(cronstreamv1.Priority_PRIORITY_LOW)
	PriorityMedium   = Priority(cronstreamv1.Priority_PRIORITY_MEDIUM)
	PriorityHigh     = Priority(cronstreamv1.Priority_PRIORITY_HIGH)
	PriorityCritical = Priority(cronstreamv1.Priority_PRIORITY_CRITICAL)
)

func (p Priority) String() string {
	return strings.TrimPrefix(cronstreamv1.Priority(p).String(), "PRIORITY_")
}

// OverlapPolicy is what happens when a slot comes due while an earlier
// execution of the job is still pending or running. String gives "SKIP"...
// The zero value leaves it to the server, which defaults to OverlapAllow.
type OverlapPolicy int32

// The overlap policies.
const (
	OverlapAllow          = OverlapPolicy(cronstreamv1.OverlapPolicy_OVERLAP_POLICY_ALLOW)           // run both
	OverlapSkip           = OverlapPolicy(cronstreamv1.OverlapPolicy_OVERLAP_POLICY_SKIP)            // record the new slot as skipped
	OverlapBufferOne      = OverlapPolicy(cronstreamv1.OverlapPolicy_OVERLAP_POLICY_BUFFER_ONE)      // at most one waiting; skip the rest
	OverlapCancelPrevious = OverlapPolicy(cronstreamv1.OverlapPolicy_OVERLAP_POLICY_CANCEL_PREVIOUS) // cancel the running one, start the new
)

func (p OverlapPolicy) String() string {
	return strings.TrimPrefix(cronstreamv1.OverlapPolicy(p).String(), "OVERLAP_POLICY_")
}

// MisfirePolicy is what happens to slots missed while no server replica was
// running. String gives "RUN_ALL"... The zero value leaves it to the
// server, which defaults to MisfireRunOnce.
type MisfirePolicy int32

// The misfire policies.
const (
	MisfireRunOnce = MisfirePolicy(cronstreamv1.MisfirePolicy_MISFIRE_POLICY_RUN_ONCE) // once for all missed slots
	MisfireRunAll  = MisfirePolicy(cronstreamv1.MisfirePolicy_MISFIRE_POLICY_RUN_ALL)  // each slot within Job.CatchupWindow
	MisfireSkip    = MisfirePolicy(cronstreamv1.MisfirePolicy_MISFIRE_POLICY_SKIP)     // none; recorded as skipped
)

func (p MisfirePolicy) String() string {
	return strings.TrimPrefix(cronstreamv1.MisfirePolicy(p).String(), "MISFIRE_POLICY_")
}
