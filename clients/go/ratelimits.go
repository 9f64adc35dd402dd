package cronstream

import (
	"context"
	"errors"
	"time"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// RateLimitScope says what a rate limit limits: every execution whose job
// or event handler names Key as its rate-limit key, or every execution of
// Handler. Exactly one must be set; see [KeyScope] and [HandlerScope].
type RateLimitScope struct {
	Key     string
	Handler string
}

// KeyScope is the scope of a rate-limit key, as written in Job.RateLimitKey
// (a template gives each key it expands to its own bucket).
func KeyScope(key string) RateLimitScope { return RateLimitScope{Key: key} }

// HandlerScope is the scope of every execution of a handler.
func HandlerScope(name string) RateLimitScope { return RateLimitScope{Handler: name} }

// errScope is returned before any call for a scope with both or neither.
var errScope = errors.New("cronstream: a rate limit's scope needs exactly one of Key and Handler")

func (s RateLimitScope) check() error {
	if (s.Key == "") == (s.Handler == "") {
		return errScope
	}
	return nil
}

// RateLimit lets at most Limit executions start per Per, with bursts up to
// Burst (a token bucket refilled continuously).
type RateLimit struct {
	RateLimitScope
	Limit int
	Per   time.Duration
	// Burst is the bucket's size; 0: the server's default, Limit.
	Burst int

	// Output only.
	PlatformID           string
	CreatedAt, UpdatedAt time.Time
}

func (r RateLimit) proto() *cronstreamv1.RateLimit {
	m := &cronstreamv1.RateLimit{Limit: int32(r.Limit), Per: durationProto(r.Per), Burst: int32(r.Burst)}
	if r.Key != "" {
		m.Scope = &cronstreamv1.RateLimit_Key{Key: r.Key}
	} else {
		m.Scope = &cronstreamv1.RateLimit_HandlerName{HandlerName: r.Handler}
	}
	return m
}

func rateLimitFromProto(m *cronstreamv1.RateLimit) RateLimit {
	return RateLimit{
		RateLimitScope: RateLimitScope{Key: m.GetKey(), Handler: m.GetHandlerName()},
		Limit:          int(m.GetLimit()), Per: m.GetPer().AsDuration(), Burst: int(m.GetBurst()),
		PlatformID: m.GetPlatformId(), CreatedAt: timeOf(m.GetCreatedAt()), UpdatedAt: timeOf(m.GetUpdatedAt()),
	}
}

// SetRateLimit creates or replaces the platform's rate limit of r's scope
// and returns it as stored. Executions already waiting follow it at once.
//
//	client.SetRateLimit(ctx, cronstream.RateLimit{RateLimitScope: cronstream.KeyScope("crm-api"), Limit: 10, Per: time.Second})
func (c *Client) SetRateLimit(ctx context.Context, r RateLimit) (*RateLimit, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	resp, err := c.Scheduler.SetRateLimit(ctx, &cronstreamv1.SetRateLimitRequest{RateLimit: r.proto()})
	if err != nil {
		return nil, err
	}
	stored := rateLimitFromProto(resp.GetRateLimit())
	return &stored, nil
}

// ListRateLimits returns every rate limit of the platform, by scope then key.
func (c *Client) ListRateLimits(ctx context.Context) ([]RateLimit, error) {
	resp, err := c.Scheduler.ListRateLimits(ctx, &cronstreamv1.ListRateLimitsRequest{})
	if err != nil {
		return nil, err
	}
	return convert(resp.GetRateLimits(), rateLimitFromProto), nil
}

// DeleteRateLimit deletes the rate limit of scope; executions waiting on it
// start. An unknown one is ErrNotFound.
func (c *Client) DeleteRateLimit(ctx context.Context, scope RateLimitScope) error {
	if err := scope.check(); err != nil {
		return err
	}
	req := &cronstreamv1.DeleteRateLimitRequest{Scope: &cronstreamv1.DeleteRateLimitRequest_Key{Key: scope.Key}}
	if scope.Handler != "" {
		req.Scope = &cronstreamv1.DeleteRateLimitRequest_HandlerName{HandlerName: scope.Handler}
	}
	_, err := c.Scheduler.DeleteRateLimit(ctx, req)
	return err
}
