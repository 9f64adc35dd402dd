#!/usr/bin/env bash
# Installs the pinned local code generators and CLI tools into .tools/bin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export GOBIN="$root/.tools/bin"
mkdir -p "$GOBIN"
want() { [ -x "$GOBIN/$1" ] || { echo "installing $1"; go install "$2"; }; }
want protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.10
want protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
want grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.3
