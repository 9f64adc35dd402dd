// Package cronstream is the Go client of Cronstream, a gRPC job scheduler.
//
// A [Client] wraps the generated service clients (package cronstreamv1) with
// API-key authentication and typed errors, and adds a few convenience
// methods. A [Worker] runs handlers for the executions the server assigns to
// it over the WorkerService stream.
package cronstream

import (
	"context"
	"crypto/tls"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// Version is this client's version, sent in the user agent.
const Version = "0.1.0"

// Client calls a Cronstream server. Every call it makes, through the
// convenience methods or through the generated clients it exposes, carries
// the API key and returns the typed errors of this package.
type Client struct {
	// Scheduler is the generated SchedulerService client.
	Scheduler cronstreamv1.SchedulerServiceClient
	// Workers is the generated WorkerService client; see [Worker].
	Workers cronstreamv1.WorkerServiceClient
	// Admin is the generated AdminService client (it needs the admin key).
	Admin cronstreamv1.AdminServiceClient

	conn *grpc.ClientConn // owned by the client when made by Dial
}

// Option configures [Dial].
type Option func(*dialConfig)

type dialConfig struct {
	apiKey   string
	tls      *tls.Config
	insecure bool
	extra    []grpc.DialOption
}

// WithAPIKey sends `authorization: Bearer <key>` on every call.
func WithAPIKey(key string) Option {
	return func(c *dialConfig) { c.apiKey = key }
}

// WithTLS connects over TLS with cfg (nil: the system's root CAs). This is
// the default.
func WithTLS(cfg *tls.Config) Option {
	return func(c *dialConfig) { c.tls, c.insecure = cfg, false }
}

// WithInsecure connects in plaintext, as to a local `make run` server.
func WithInsecure() Option {
	return func(c *dialConfig) { c.insecure = true }
}

// WithDialOptions appends gRPC dial options, for example
// grpc.WithStatsHandler(otelgrpc.NewClientHandler()). They are applied after
// the client's own, so they can override them.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *dialConfig) { c.extra = append(c.extra, opts...) }
}

// keepaliveParams pings every 20 s, below common load-balancer idle
// timeouts, even while no stream is open, so a silent peer is noticed.
var keepaliveParams = keepalive.ClientParameters{
	Time:                20 * time.Second,
	Timeout:             10 * time.Second,
	PermitWithoutStream: true,
}

// Dial makes a client for target ("host:port" or any gRPC target). It does
// not wait for the connection: the first call connects. ctx is only checked
// for cancellation. Close the client when done.
func Dial(ctx context.Context, target string, opts ...Option) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cfg dialConfig
	for _, opt := range opts {
		opt(&cfg)
	}
	creds := credentials.NewTLS(cfg.tls)
	if cfg.insecure {
		creds = insecure.NewCredentials()
	}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepaliveParams),
		grpc.WithUserAgent("cronstream-go/" + Version),
	}, cfg.extra...)
	conn, err := grpc.NewClient(target, dialOpts...)
	if err != nil {
		return nil, err
	}
	c := NewClient(conn, cfg.apiKey)
	c.conn = conn
	return c, nil
}

// NewClient wraps a connection made elsewhere (such as a *grpc.ClientConn).
// apiKey may be empty when the connection already authenticates. Closing
// the returned client does not close conn.
func NewClient(conn grpc.ClientConnInterface, apiKey string) *Client {
	cc := authConn{cc: conn}
	if apiKey != "" {
		cc.authorization = "Bearer " + apiKey
	}
	return &Client{
		Scheduler: cronstreamv1.NewSchedulerServiceClient(cc),
		Workers:   cronstreamv1.NewWorkerServiceClient(cc),
		Admin:     cronstreamv1.NewAdminServiceClient(cc),
	}
}

// Close closes the connection Dial made; it does nothing for a client made
// by NewClient.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	conn := c.conn
	c.conn = nil
	return conn.Close()
}
