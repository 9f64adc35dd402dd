package cronstream

import (
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// Job is a job as this package shows it: what to run, when, and how, plus
// what the server reports about it. Set the first group of fields to
// create one; the server fills in the rest.
type Job struct {
	Name    string
	Handler string // the name a worker registered with Handle
	Trigger Trigger
	// Payload is handed to the handler as JSON: a struct with json tags, a
	// map, anything json.Marshal turns into an object. On a job read from
	// the server it is a map[string]any.
	Payload any
	// MaxRetries is the retries after a failed attempt; nil: the server's
	// default (3). new(0) turns retries off.
	MaxRetries *int
	RetryDelay time.Duration // zero: the server's default (60 s)
	Timeout    time.Duration // zero: the server's default (300 s)
	Tags       []string
	Metadata   map[string]string
	// Priority, OverlapPolicy, MisfirePolicy: zero is the server's default
	// (PriorityMedium, OverlapAllow, MisfireRunOnce).
	Priority      Priority
	OverlapPolicy OverlapPolicy
	MisfirePolicy MisfirePolicy
	// CatchupWindow is how far back MisfireRunAll still runs missed slots;
	// zero: the server's default (1 h).
	CatchupWindow time.Duration
	// Jitter bounds a delay added to each slot, the same on every server
	// replica; zero: none.
	Jitter time.Duration
	// HealthPolicy says when the job is unhealthy; its zero value leaves
	// every condition to the platform's defaults.
	HealthPolicy HealthPolicy
	// Concurrency caps how many executions carrying its key run at once,
	// across the cluster and every job and handler naming the key; nil: no
	// limit (docs/scheduling.md).
	Concurrency *ConcurrencyLimit
	// RateLimitKey names the rate limit its executions draw from (a fixed
	// string or a template such as "customer:{payload.customer_id}"); it
	// limits nothing until SetRateLimit sets that key. "": none.
	RateLimitKey string
	// DependsOn holds ids of jobs whose slot must have succeeded first.
	DependsOn []string
	// MaxWait is how long a slot waits for its dependencies before it is
	// skipped as missed; zero: the server's default (1 h).
	MaxWait time.Duration

	// Output only.
	ID                                     string
	Status                                 JobStatus
	PausedUntil                            time.Time // when a PauseJob with until resumes it; zero otherwise
	Health                                 JobHealth // zero State from a server that does not report it
	NextRun, LastRun, CreatedAt, UpdatedAt time.Time // zero when absent
	Executions, Successes, Failures        int64
	AvgDuration                            time.Duration

	pb *cronstreamv1.Job // as the server returned it
}

// Proto returns the generated message: the one the server returned (a
// copy), with the settable fields of j written over it. Use it for what j
// does not carry (the handler type...).
func (j *Job) Proto() *cronstreamv1.Job {
	m := &cronstreamv1.Job{}
	if j.pb != nil {
		m = proto.CloneOf(j.pb)
	}
	m.Name, m.HandlerName, m.Tags, m.Metadata = j.Name, j.Handler, j.Tags, j.Metadata
	if j.MaxRetries != nil {
		m.MaxRetries = proto.Int32(int32(*j.MaxRetries))
	}
	m.RetryDelay, m.Timeout = durationProto(j.RetryDelay), durationProto(j.Timeout)
	// Written even when zero, like the durations above: zeroing a field of a
	// job read from the server then means its default, not the old value.
	m.Priority = cronstreamv1.Priority(j.Priority)
	m.OverlapPolicy = cronstreamv1.OverlapPolicy(j.OverlapPolicy)
	m.MisfirePolicy = cronstreamv1.MisfirePolicy(j.MisfirePolicy)
	m.CatchupWindow, m.Jitter = durationProto(j.CatchupWindow), durationProto(j.Jitter)
	m.HealthPolicy = j.HealthPolicy.proto()
	m.Concurrency = j.Concurrency.proto()
	m.RateLimitKey, m.DependsOn, m.MaxWait = j.RateLimitKey, j.DependsOn, durationProto(j.MaxWait)
	if j.Trigger != nil {
		j.Trigger.setOn(m)
	}
	return m
}

// toProto is Proto plus the payload, which may not encode.
func (j *Job) toProto() (*cronstreamv1.Job, error) {
	m := j.Proto()
	if j.Payload != nil {
		s, err := toStruct(j.Payload)
		if err != nil {
			return nil, err
		}
		m.Payload = s
	}
	return m, nil
}

func jobFromProto(m *cronstreamv1.Job) *Job {
	j := &Job{
		Name: m.GetName(), Handler: m.GetHandlerName(), Trigger: triggerFromProto(m),
		Payload: payloadMap(m.GetPayload()), Tags: m.GetTags(), Metadata: m.GetMetadata(),
		RetryDelay: m.GetRetryDelay().AsDuration(), Timeout: m.GetTimeout().AsDuration(),
		Priority: Priority(m.GetPriority()), OverlapPolicy: OverlapPolicy(m.GetOverlapPolicy()),
		MisfirePolicy: MisfirePolicy(m.GetMisfirePolicy()),
		CatchupWindow: m.GetCatchupWindow().AsDuration(), Jitter: m.GetJitter().AsDuration(),
		HealthPolicy: healthPolicyFromProto(m.GetHealthPolicy()), Health: jobHealthFromProto(m.GetHealth()),
		ID: m.GetId(), Status: JobStatus(m.GetStatus()),
		NextRun: timeOf(m.GetNextRun()), LastRun: timeOf(m.GetLastRun()),
		CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt()),
		Executions: m.GetExecutionsCount(), Successes: m.GetSuccessCount(), Failures: m.GetFailureCount(),
		AvgDuration:  m.GetAvgDuration().AsDuration(),
		Concurrency:  concurrencyFromProto(m.GetConcurrency()),
		RateLimitKey: m.GetRateLimitKey(), DependsOn: m.GetDependsOn(), MaxWait: m.GetMaxWait().AsDuration(),
		PausedUntil: timeOf(m.GetPausedUntil()),
		pb:          m,
	}
	if m.MaxRetries != nil {
		j.MaxRetries = new(int(m.GetMaxRetries()))
	}
	return j
}

// JobStatus is a job's lifecycle state; String gives "ACTIVE", "PAUSED"...
type JobStatus int32

// The job statuses.
const (
	JobPending   = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_PENDING)
	JobActive    = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_ACTIVE)
	JobPaused    = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_PAUSED)
	JobCompleted = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_COMPLETED)
	JobFailed    = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_FAILED)
	JobCancelled = JobStatus(cronstreamv1.JobStatus_JOB_STATUS_CANCELLED)
)

func (s JobStatus) String() string {
	return strings.TrimPrefix(cronstreamv1.JobStatus(s).String(), "JOB_STATUS_")
}

// Execution is one run of a job (or one delivery of an event).
type Execution struct {
	ID, JobID, Handler, WorkerID string
	Status                       ExecutionStatus
	Trigger                      ExecutionTrigger // why it exists
	Attempt, RetryCount          int
	ScheduledAt, StartedAt       time.Time // zero when absent
	CompletedAt                  time.Time
	Duration                     time.Duration
	Result                       map[string]any // what the handler returned
	Error                        string
	// ConcurrencyKey and RateLimitKey are the expanded keys it counts
	// against; "" for none.
	ConcurrencyKey, RateLimitKey string
	// While ExecutionWaiting: the ids of the jobs whose slot has not
	// succeeded yet, and when it stops waiting and is skipped as missed.
	WaitingFor   []string
	WaitDeadline time.Time

	pb *cronstreamv1.Execution
}

// Proto returns the generated message as the server returned it.
func (e *Execution) Proto() *cronstreamv1.Execution { return e.pb }

func executionFromProto(m *cronstreamv1.Execution) *Execution {
	return &Execution{
		ID: m.GetId(), JobID: m.GetJobId(), Handler: m.GetHandlerName(), WorkerID: m.GetWorkerId(),
		Status: ExecutionStatus(m.GetStatus()), Attempt: int(m.GetAttempt()), RetryCount: int(m.GetRetryCount()),
		ScheduledAt: timeOf(m.GetScheduledAt()), StartedAt: timeOf(m.GetStartedAt()),
		CompletedAt: timeOf(m.GetCompletedAt()), Duration: m.GetDuration().AsDuration(),
		Result: payloadMap(m.GetResult()), Error: m.GetError(),
		Trigger:        ExecutionTrigger(m.GetTrigger()),
		ConcurrencyKey: m.GetConcurrencyKey(), RateLimitKey: m.GetRateLimitKey(),
		WaitingFor: m.GetWaitingFor(), WaitDeadline: timeOf(m.GetWaitDeadline()),
		pb: m,
	}
}

// ExecutionStatus is where an execution stands; String gives "SUCCESS"...
type ExecutionStatus int32

// The execution statuses.
const (
	ExecutionPending   = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_PENDING)
	ExecutionRunning   = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_RUNNING)
	ExecutionSuccess   = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_SUCCESS)
	ExecutionFailed    = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_FAILED)
	ExecutionTimeout   = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_TIMEOUT)
	ExecutionCancelled = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_CANCELLED)
	ExecutionSkipped   = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_SKIPPED)
	// Waiting for the jobs it depends on (Execution.WaitingFor).
	ExecutionWaiting = ExecutionStatus(cronstreamv1.ExecutionStatus_EXECUTION_STATUS_WAITING)
)

func (s ExecutionStatus) String() string {
	return strings.TrimPrefix(cronstreamv1.ExecutionStatus(s).String(), "EXECUTION_STATUS_")
}

// Final reports whether the execution has ended (success, failure,
// timeout, cancelled or skipped); pending, running and waiting have not.
func (s ExecutionStatus) Final() bool { return s >= ExecutionSuccess && s <= ExecutionSkipped }

// ExecutionTrigger is why an execution exists; String gives "SCHEDULE"...
type ExecutionTrigger int32

// The execution triggers.
const (
	TriggerSchedule = ExecutionTrigger(cronstreamv1.ExecutionTrigger_EXECUTION_TRIGGER_SCHEDULE) // a slot of the schedule
	TriggerManual   = ExecutionTrigger(cronstreamv1.ExecutionTrigger_EXECUTION_TRIGGER_MANUAL)   // RunJob
	TriggerEvent    = ExecutionTrigger(cronstreamv1.ExecutionTrigger_EXECUTION_TRIGGER_EVENT)    // TriggerEvent
	TriggerBackfill = ExecutionTrigger(cronstreamv1.ExecutionTrigger_EXECUTION_TRIGGER_BACKFILL) // BackfillJob: a past slot, run late on purpose
)

func (t ExecutionTrigger) String() string {
	return strings.TrimPrefix(cronstreamv1.ExecutionTrigger(t).String(), "EXECUTION_TRIGGER_")
}

// ConcurrencyLimit lets at most Limit executions carrying Key run at once.
// Key is a fixed string or a template over the payload
// ("customer:{payload.customer_id}" limits each customer separately).
type ConcurrencyLimit struct {
	Key   string
	Limit int
}

func (c *ConcurrencyLimit) proto() *cronstreamv1.ConcurrencyLimit {
	if c == nil {
		return nil
	}
	return &cronstreamv1.ConcurrencyLimit{Key: c.Key, Limit: int32(c.Limit)}
}

func concurrencyFromProto(m *cronstreamv1.ConcurrencyLimit) *ConcurrencyLimit {
	if m == nil {
		return nil
	}
	return &ConcurrencyLimit{Key: m.GetKey(), Limit: int(m.GetLimit())}
}

// LogLine is a line a handler logged with its execution.
type LogLine struct {
	Time    time.Time
	Level   LogLevel
	Message string
	Attempt int
}

func logLineFromProto(m *cronstreamv1.ExecutionLog) LogLine {
	return LogLine{
		Time: timeOf(m.GetTime()), Level: LogLevel(m.GetLevel()),
		Message: m.GetMessage(), Attempt: int(m.GetAttempt()),
	}
}
