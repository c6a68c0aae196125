#!/usr/bin/env bash
# The CUDA variant on a machine without a GPU (CI): kernels compiled with
# nvcc, the tensor-core kernels' SASS checked (HMMA, cp.async, no spills),
# bin/cnnctl-cuda built, the GPU test binary built, the cuda build's
# tests run (GPU tests skip with a message, CPU tests pass through the cuda
# build), and the fallback shown: --device auto picks the CPU, --device cuda
# fails with exit code 3.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvcc >/dev/null 2>&1; then
  scripts/setup-cuda.sh
fi
make -s cuda
scripts/check-tc-sass.sh
go vet -tags cuda ./internal/gpu/ ./cmd/cnnctl/
go test -c -tags cuda -o /dev/null ./internal/gpu/
go test -count=1 -tags cuda -v -run 'Test' ./internal/gpu/ 2>&1 | grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|\s+.*skip|ok|FAIL|PASS)' | grep -v '=== RUN' | head -60
go test -count=1 -tags cuda ./cmd/cnnctl/

echo "== fallback of the cuda build on this machine =="
bin/cnnctl-cuda version
bin/cnnctl-cuda device
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin/cnnctl-cuda train --model lenet --data synthetic --epochs 1 --batch-size 64 --device auto --out "$out/run" --quiet 2>&1 | tee "$out/log"
grep -q 'device: cpu' "$out/log" || { echo "test-cuda: --device auto did not fall back to the CPU" >&2; exit 1; }
set +e
bin/cnnctl-cuda train --model lenet --data synthetic --epochs 1 --device cuda --out "$out/run2" --quiet
rc=$?
set -e
if [ "$rc" != 3 ]; then
  echo "test-cuda: --device cuda without a GPU exited $rc, want 3" >&2
  exit 1
fi
echo "test-cuda: ok (fallback to the CPU, --device cuda refused with exit 3)"
