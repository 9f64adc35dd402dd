package cronstream

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// HandlerFunc runs one attempt of an execution. Its ctx is cancelled when
// the server cancels the execution (context.Cause tells why, wrapping
// ErrExecutionCancelled), at the attempt's deadline, and when the worker's
// grace period ends. A nil error reports success with result (which must be
// JSON-encodable; nil is an empty object); an error reports a failure that
// the server retries under the job's policy unless it is wrapped with
// NonRetryable. A panic is reported as a failure with its stack.
type HandlerFunc func(ctx context.Context, job *Context) (map[string]any, error)

// ErrExecutionCancelled is the cause of a handler's context when the server
// cancels the execution ("cancelled", "timeout", "overlap", "lease lost").
var ErrExecutionCancelled = errors.New("cronstream: execution cancelled by the server")

// Context is what a handler is asked to run: one attempt of one execution.
type Context struct {
	ExecutionID string
	JobID       string // empty for event-handler deliveries
	HandlerName string
	// Payload is the job's JSON payload; numbers are float64.
	Payload map[string]any
	// Attempt counts from 1.
	Attempt     int
	ScheduledAt time.Time
	// Deadline is when the server times the attempt out (zero: none); the
	// handler's ctx ends then too.
	Deadline time.Time

	raw  *structpb.Struct // the payload as it came, for Decode
	send func(*cronstreamv1.ConnectRequest) bool
}

// LogLevel is the severity of a log line.
type LogLevel int

// The log levels, as stored with the execution.
const (
	LevelDebug LogLevel = iota + 1
	LevelInfo
	LevelWarn
	LevelError
)

func (l LogLevel) proto() cronstreamv1.LogLevel {
	switch l {
	case LevelDebug:
		return cronstreamv1.LogLevel_LOG_LEVEL_DEBUG
	case LevelWarn:
		return cronstreamv1.LogLevel_LOG_LEVEL_WARN
	case LevelError:
		return cronstreamv1.LogLevel_LOG_LEVEL_ERROR
	default:
		return cronstreamv1.LogLevel_LOG_LEVEL_INFO
	}
}

// maxLogBytes is the server's limit on one log message.
const maxLogBytes = 64 << 10

// Log stores a line with the execution. Lines are sent on the worker stream
// as they come; a line logged while the worker is disconnected is dropped.
// It reports whether the line was handed to the stream.
func (j *Context) Log(level LogLevel, msg string) bool {
	if j.send == nil {
		return false
	}
	return j.send(&cronstreamv1.ConnectRequest{Msg: &cronstreamv1.ConnectRequest_Log{
		Log: &cronstreamv1.WorkerLog{
			ExecutionId: j.ExecutionID,
			Level:       level.proto(),
			Message:     truncateUTF8(msg, maxLogBytes),
			Time:        timestamppb.Now(),
			Attempt:     int32(j.Attempt),
		},
	}})
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func newContext(a *cronstreamv1.Assignment, send func(*cronstreamv1.ConnectRequest) bool) *Context {
	j := &Context{
		ExecutionID: a.GetExecutionId(),
		JobID:       a.GetJobId(),
		HandlerName: a.GetHandlerName(),
		Payload:     payloadMap(a.GetPayload()),
		raw:         a.GetPayload(),
		Attempt:     int(a.GetAttempt()),
		send:        send,
	}
	if a.GetScheduledAt() != nil {
		j.ScheduledAt = a.GetScheduledAt().AsTime()
	}
	if a.GetDeadline() != nil {
		j.Deadline = a.GetDeadline().AsTime()
	}
	return j
}
