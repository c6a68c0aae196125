#!/usr/bin/env bash
# The main job: train LeNet on Fashion-MNIST for a short real run on the best
# device present (the CUDA build when nvcc and a GPU are here), then evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/demo-lenet}
epochs=${DEMO_EPOCHS:-3}

bin=bin/cnnctl
make -s build
if command -v nvcc >/dev/null 2>&1 && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  make -s cuda && bin=bin/cnnctl-cuda
fi

rm -rf "$out"
"$bin" train --model lenet --data fashion-mnist --epochs "$epochs" --batch-size 128 \
  --optimizer sgd --lr 0.01 --momentum 0.9 --device auto --out "$out"
echo
"$bin" eval "$out/best"
echo
echo "checkpoints: $out/best  $out/last"
echo "metrics:     $out/metrics.csv  $out/metrics.jsonl"
echo "plot:        $out/curves.png"
