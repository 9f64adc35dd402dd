package cronstream

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// authConn is the one edge every call passes: it adds the API key to the
// outgoing metadata and translates the status errors coming back. Adding
// metadata (rather than per-RPC credentials) works over plaintext loopback
// connections too, and over connections the caller made.
type authConn struct {
	cc            grpc.ClientConnInterface
	authorization string // "Bearer <key>", or empty
}

func (c authConn) authorize(ctx context.Context) context.Context {
	if c.authorization == "" {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		return ctx // the caller set its own
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", c.authorization)
}

func (c authConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return translate(c.cc.Invoke(c.authorize(ctx), method, args, reply, opts...))
}

func (c authConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := c.cc.NewStream(c.authorize(ctx), desc, method, opts...)
	if err != nil {
		return nil, translate(err)
	}
	return translatingStream{s}, nil
}

// translatingStream translates the status a stream ends with; io.EOF (a
// clean end) passes unchanged.
type translatingStream struct {
	grpc.ClientStream
}

func (s translatingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	return translate(err)
}
