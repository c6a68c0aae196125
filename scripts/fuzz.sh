#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 20s each); the corpora
# live in each package's testdata/fuzz. Used by `make fuzz` and CI.
#   scripts/fuzz.sh [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
time=${1:-20s}
targets=(
  "./internal/safetensors FuzzRead"
  "./internal/data FuzzIDX"
  "./internal/data FuzzCIFAR"
  "./internal/data FuzzCache"
  "./internal/zoo FuzzParse"
  "./internal/checkpoint FuzzLoad"
  "./internal/checkpoint FuzzMetadata"
)
start=$SECONDS
for t in "${targets[@]}"; do
  read -r pkg name <<<"$t"
  echo "== $name ($pkg) for $time"
  # Minimising a new input re-runs the target many times; keep it short so
  # that file-based targets (FuzzLoad) do not spend their time there.
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -fuzzminimizetime 5s -parallel 2 "$pkg"
done
echo "fuzz: ${#targets[@]} targets, $((SECONDS - start)) s"
