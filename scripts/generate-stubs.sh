#!/usr/bin/env bash
# Generates the Python gRPC stubs from proto/ into registry/api/ with grpcio-tools.
# The generated files are committed; tests/unit/test_stubs.py fails when they drift.
# Usage: scripts/generate-stubs.sh [OUTPUT_DIR]   (default: registry/api)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-registry/api}"
python="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
"$python" -m grpc_tools.protoc -I proto \
  --python_out="$out" --pyi_out="$out" --grpc_python_out="$out" \
  proto/credit_registry/v1/registry.proto
# protoc writes imports relative to the proto root; make them package-relative.
sed -i 's/^from credit_registry.v1 import registry_pb2/from registry.api.credit_registry.v1 import registry_pb2/' \
  "$out/credit_registry/v1/registry_pb2_grpc.py"
touch "$out/__init__.py" "$out/credit_registry/__init__.py" "$out/credit_registry/v1/__init__.py"
