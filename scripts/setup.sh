#!/usr/bin/env bash
# Installs what cnnctl's build, demo and tests need on Debian 12, idempotently:
# Fashion-MNIST (the demo's data), PyTorch for the equivalence tests, and the
# CUDA toolchain (nvcc) so the GPU variant builds even where no GPU runs it.
#   scripts/setup.sh            everything
#   scripts/setup.sh demo       only what `make demo` needs
#   scripts/setup.sh bench      what `make bench-cpu` needs: PyTorch and OpenBLAS (Debian's
#                               python3-torch otherwise runs on the reference BLAS, whose
#                               linear layers are 10-20x slower: an unfair peer)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
[ -d /usr/share/datasets/fashion-mnist ] || need+=(dataset-fashion-mnist)
if [ "$what" = all ] || [ "$what" = bench ]; then
  /usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || need+=(python3-torch python3-numpy)
fi
if [ "$what" = bench ]; then
  dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need+=(libopenblas0-pthread)
fi

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not installed. cnnctl needs Go >= 1.24 (https://go.dev/doc/install)." >&2
  exit 1
fi

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "$what" = all ] && [ -x scripts/setup-cuda.sh ]; then
  scripts/setup-cuda.sh
fi
echo "setup: done"
