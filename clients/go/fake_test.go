package cronstream

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	cronstreamv1 "github.com/cronstream/cronstream/clients/go/gen/cronstream/v1"
)

// fakeServer is an in-process stand-in for the Cronstream server's edges,
// enough to drive the client and the worker protocol from a test: each
// worker stream is handed to the test as a fakeSession, which plays the
// server's side message by message.
type fakeServer struct {
	cronstreamv1.UnimplementedWorkerServiceServer
	cronstreamv1.UnimplementedSchedulerServiceServer

	apiKey   string
	sessions chan *fakeSession
	jobs     []*cronstreamv1.Job
	alerts   fakeAlerts // WatchAlerts and ListAlerts (alerts_test.go)

	mu         sync.Mutex
	authHeader []string // the authorization of every call, in order
}

const testKey = "test-key"

func startFake(t *testing.T) (*fakeServer, *Client) {
	t.Helper()
	f := &fakeServer{apiKey: testKey, sessions: make(chan *fakeSession, 8)}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.UnaryInterceptor(f.authUnary), grpc.StreamInterceptor(f.authStream))
	cronstreamv1.RegisterWorkerServiceServer(srv, f)
	cronstreamv1.RegisterSchedulerServiceServer(srv, f)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	dialer := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
		return lis.DialContext(ctx)
	})
	c, err := Dial(t.Context(), "passthrough:///fake", WithInsecure(), WithAPIKey(testKey), WithDialOptions(dialer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return f, c
}

func (f *fakeServer) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get("authorization")
	f.mu.Lock()
	f.authHeader = append(f.authHeader, got...)
	key := f.apiKey
	f.mu.Unlock()
	if len(got) != 1 || got[0] != "Bearer "+key {
		return status.Error(codes.Unauthenticated, "missing or unknown API key")
	}
	return nil
}

func (f *fakeServer) authUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := f.check(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (f *fakeServer) authStream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := f.check(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// fakeSession is the server's side of one worker stream.
type fakeSession struct {
	t      *testing.T
	stream cronstreamv1.WorkerService_ConnectServer
	hello  *cronstreamv1.WorkerHello
	recv   chan *cronstreamv1.ConnectRequest // every message after hello
	end    chan error                        // ends the stream with this status
	ended  chan struct{}                     // closed when the client side is gone
	held   []*cronstreamv1.ConnectRequest    // received, not yet matched (heartbeats excepted)
}

func (f *fakeServer) Connect(stream cronstreamv1.WorkerService_ConnectServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetHello() == nil {
		return status.Error(codes.InvalidArgument, "first message must be hello")
	}
	s := &fakeSession{
		stream: stream,
		hello:  first.GetHello(),
		recv:   make(chan *cronstreamv1.ConnectRequest, 1024),
		end:    make(chan error, 1),
		ended:  make(chan struct{}),
	}
	go func() {
		defer close(s.ended)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			s.recv <- m
		}
	}()
	f.sessions <- s
	select {
	case err := <-s.end:
		return err
	case <-stream.Context().Done():
		return nil
	}
}

// nextSession waits for the worker to open a stream.
func (f *fakeServer) nextSession(t *testing.T) *fakeSession {
	t.Helper()
	select {
	case s := <-f.sessions:
		s.t = t
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no worker session within 5 s")
		return nil
	}
}

func (s *fakeSession) send(m *cronstreamv1.ConnectResponse) {
	s.t.Helper()
	if err := s.stream.Send(m); err != nil {
		s.t.Fatalf("send %v: %v", m, err)
	}
}

func (s *fakeSession) welcome(heartbeat time.Duration) {
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Welcome{Welcome: &cronstreamv1.Welcome{
		SessionId:         "s-1",
		HeartbeatInterval: durationpb.New(heartbeat),
		LeaseDuration:     durationpb.New(3 * heartbeat),
	}}})
}

func (s *fakeSession) assign(a *cronstreamv1.Assignment) {
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Assignment{Assignment: a}})
}

// assignBatch sends an `assignments` message written at sentAt on the
// server's clock (nil: unset).
func (s *fakeSession) assignBatch(sentAt *timestamppb.Timestamp, as ...*cronstreamv1.Assignment) {
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_Assignments{
		Assignments: &cronstreamv1.Assignments{Assignments: as, SentAt: sentAt},
	}})
}

func (s *fakeSession) ack(id string) {
	s.send(&cronstreamv1.ConnectResponse{Msg: &cronstreamv1.ConnectResponse_ResultAck{
		ResultAck: &cronstreamv1.ResultAck{ExecutionId: id},
	}})
}

// waitFor returns the first message from the worker that match accepts.
// The others are kept for later calls, except heartbeats, which only count
// when fresh.
func (s *fakeSession) waitFor(what string, match func(*cronstreamv1.ConnectRequest) bool) *cronstreamv1.ConnectRequest {
	s.t.Helper()
	for i, m := range s.held {
		if match(m) {
			s.held = append(s.held[:i], s.held[i+1:]...)
			return m
		}
	}
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-s.recv:
			if match(m) {
				return m
			}
			if m.GetHeartbeat() == nil {
				s.held = append(s.held, m)
			}
		case <-timeout:
			s.t.Fatalf("no %s from the worker within 5 s", what)
			return nil
		}
	}
}

func (s *fakeSession) waitResult(id string) *cronstreamv1.WorkerResult {
	s.t.Helper()
	return s.waitFor("result of "+id, func(m *cronstreamv1.ConnectRequest) bool {
		return m.GetResult().GetExecutionId() == id
	}).GetResult()
}

// waitEnded waits until the worker has closed this stream.
func (s *fakeSession) waitEnded() {
	s.t.Helper()
	select {
	case <-s.ended:
	case <-time.After(5 * time.Second):
		s.t.Fatal("the worker did not close the stream within 5 s")
	}
}
