"""The dashboard's HTTP port: its static bundle and a gRPC-web bridge to the gRPC server.

It runs in a child process of the server (web/child.py, web/process.py). The
bridge holds no API of its own: every call is forwarded, bytes in and bytes
out, to the server's gRPC server (through a unix socket only it can reach), so
that authentication, tenancy, validation and errors are the gRPC API's.
"""
