package cronstream

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinels for the status codes callers branch on; match them with
// errors.Is. The errors themselves are *StatusError or
// *InvalidArgumentError and still carry the gRPC status (status.Code works).
var (
	ErrInvalidArgument    = errors.New("cronstream: invalid argument")
	ErrNotFound           = errors.New("cronstream: not found")
	ErrUnauthenticated    = errors.New("cronstream: unauthenticated")
	ErrPermissionDenied   = errors.New("cronstream: permission denied")
	ErrFailedPrecondition = errors.New("cronstream: failed precondition")
	ErrAlreadyExists      = errors.New("cronstream: already exists")
	ErrResourceExhausted  = errors.New("cronstream: resource exhausted")
	ErrUnavailable        = errors.New("cronstream: unavailable")
	ErrUnimplemented      = errors.New("cronstream: unimplemented")
)

var sentinels = map[codes.Code]error{
	codes.InvalidArgument:    ErrInvalidArgument,
	codes.NotFound:           ErrNotFound,
	codes.Unauthenticated:    ErrUnauthenticated,
	codes.PermissionDenied:   ErrPermissionDenied,
	codes.FailedPrecondition: ErrFailedPrecondition,
	codes.AlreadyExists:      ErrAlreadyExists,
	codes.ResourceExhausted:  ErrResourceExhausted,
	codes.Unavailable:        ErrUnavailable,
	codes.Unimplemented:      ErrUnimplemented,
	codes.Canceled:           context.Canceled,
	codes.DeadlineExceeded:   context.DeadlineExceeded,
}

// StatusError is a call that failed with a gRPC status.
type StatusError struct {
	Code    codes.Code
	Message string
	status  *status.Status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("cronstream: %s: %s", e.Code, e.Message)
}

// Is matches the sentinel of e's code (and context.Canceled or
// context.DeadlineExceeded for those codes).
func (e *StatusError) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// GRPCStatus keeps status.Code and status.FromError working.
func (e *StatusError) GRPCStatus() *status.Status { return e.status }

// FieldViolation names a request field that is invalid, by its path such as
// "job.cron.expression", and says why.
type FieldViolation struct {
	Field       string
	Description string
}

// InvalidArgumentError is an INVALID_ARGUMENT status with the field
// violations of its google.rpc.BadRequest details.
type InvalidArgumentError struct {
	Message    string
	Violations []FieldViolation
	status     *status.Status
}

func (e *InvalidArgumentError) Error() string {
	if len(e.Violations) == 0 {
		return "cronstream: invalid argument: " + e.Message
	}
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "cronstream: invalid argument: " + strings.Join(parts, "; ")
}

// Is matches ErrInvalidArgument.
func (e *InvalidArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

// GRPCStatus keeps status.Code and status.FromError working.
func (e *InvalidArgumentError) GRPCStatus() *status.Status { return e.status }

// FieldViolations returns the field violations err carries, or nil.
func FieldViolations(err error) []FieldViolation {
	var inv *InvalidArgumentError
	if errors.As(err, &inv) {
		return inv.Violations
	}
	if st, ok := status.FromError(err); ok {
		return violations(st)
	}
	return nil
}

func violations(st *status.Status) []FieldViolation {
	var out []FieldViolation
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			out = append(out, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
		}
	}
	return out
}

// translate turns a gRPC status error into this package's typed errors;
// other errors pass unchanged.
func translate(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if st.Code() == codes.InvalidArgument {
		return &InvalidArgumentError{Message: st.Message(), Violations: violations(st), status: st}
	}
	return &StatusError{Code: st.Code(), Message: st.Message(), status: st}
}

// NonRetryable marks a handler's error as final: the server records the
// failure without retrying it. NonRetryable(nil) is nil.
func NonRetryable(err error) error {
	if err == nil {
		return nil
	}
	return &nonRetryableError{err}
}

// IsNonRetryable reports whether err (or an error it wraps) was marked by
// NonRetryable.
func IsNonRetryable(err error) bool {
	var nr *nonRetryableError
	return errors.As(err, &nr)
}

type nonRetryableError struct{ err error }

func (e *nonRetryableError) Error() string { return e.err.Error() }
func (e *nonRetryableError) Unwrap() error { return e.err }
