package cronstream

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestInvalidArgumentCarriesFieldViolations(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "invalid job").WithDetails(
		&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
			{Field: "job.cron.expression", Description: "minute 61 is out of range"},
			{Field: "job.name", Description: "required"},
		}},
		&errdetails.ErrorInfo{Reason: "ignored"},
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []FieldViolation{
		{"job.cron.expression", "minute 61 is out of range"},
		{"job.name", "required"},
	}

	// From the raw status error, as a caller of another gRPC client has it.
	if got := FieldViolations(st.Err()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FieldViolations(raw) = %v", got)
	}

	err = fmt.Errorf("creating: %w", translate(st.Err()))
	var inv *InvalidArgumentError
	if !errors.As(err, &inv) {
		t.Fatalf("%T is not an *InvalidArgumentError", err)
	}
	if fmt.Sprint(inv.Violations) != fmt.Sprint(want) || fmt.Sprint(FieldViolations(err)) != fmt.Sprint(want) {
		t.Errorf("violations = %v", inv.Violations)
	}
	if !errors.Is(err, ErrInvalidArgument) || errors.Is(err, ErrNotFound) {
		t.Error("errors.Is does not match ErrInvalidArgument alone")
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("status.Code = %v", status.Code(err))
	}
	if msg := inv.Error(); msg != "cronstream: invalid argument: job.cron.expression: minute 61 is out of range; job.name: required" {
		t.Errorf("Error() = %q", msg)
	}
}

func TestStatusCodesMatchTheirSentinels(t *testing.T) {
	cases := map[codes.Code]error{
		codes.NotFound:           ErrNotFound,
		codes.Unauthenticated:    ErrUnauthenticated,
		codes.FailedPrecondition: ErrFailedPrecondition,
		codes.Unavailable:        ErrUnavailable,
		codes.Canceled:           context.Canceled,
		codes.DeadlineExceeded:   context.DeadlineExceeded,
	}
	for code, sentinel := range cases {
		err := translate(status.Error(code, "m"))
		if !errors.Is(err, sentinel) {
			t.Errorf("%v does not match %v", code, sentinel)
		}
		if errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%v matches ErrInvalidArgument", code)
		}
		if FieldViolations(err) != nil {
			t.Errorf("%v has violations", code)
		}
		if status.Code(err) != code {
			t.Errorf("status.Code = %v, want %v", status.Code(err), code)
		}
	}
	if translate(nil) != nil {
		t.Error("translate(nil) != nil")
	}
	plain := errors.New("plain")
	if translate(plain) != plain {
		t.Error("a non-status error was changed")
	}
}

func TestNonRetryable(t *testing.T) {
	base := errors.New("bad input")
	err := fmt.Errorf("handler: %w", NonRetryable(base))
	if !IsNonRetryable(err) || !errors.Is(err, base) {
		t.Errorf("NonRetryable lost: %v", err)
	}
	if err.Error() != "handler: bad input" {
		t.Errorf("message = %q", err.Error())
	}
	if IsNonRetryable(base) || NonRetryable(nil) != nil {
		t.Error("NonRetryable marks too much")
	}
}
