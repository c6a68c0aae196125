#!/usr/bin/env bash
# Soak test (`make soak`, not part of `make test`): trains LeNet for 20
# epochs on Fashion-MNIST and prints, per epoch, the process's resident
# memory (VmRSS) and throughput. Fails when RSS grows after epoch 2 by more
# than SOAK_RSS_MARGIN_MB, or when the mean throughput of the last five
# epochs falls below SOAK_IPS_RATIO of that of epochs 2-6.
#   scripts/soak.sh            (needs bin/cnnctl: make build)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CNNCTL:-bin/cnnctl}
epochs=${SOAK_EPOCHS:-20}
margin=${SOAK_RSS_MARGIN_MB:-16}
ratio=${SOAK_IPS_RATIO:-0.85}
data=${SOAK_DATA:-fashion-mnist:/usr/share/datasets/fashion-mnist}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

"$bin" train --model lenet --data "$data" --epochs "$epochs" --batch-size 128 --lr 0.01 \
  --optimizer sgd --momentum 0.9 --device cpu --out "$out/run" 2>"$out/log" ||
  { cat "$out/log"; echo "soak: training failed"; exit 1; }

# cnnctl records the resident memory at the end of each epoch (rss_mib) and
# the throughput (images_per_s) in metrics.jsonl.
/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(m["epoch"], m["rss_mib"] * 1024, m["images_per_s"])
' "$out/run/metrics.jsonl" >"$out/rows"
awk -v margin="$margin" -v ratio="$ratio" -v epochs="$epochs" '
  { e = $1; rss[e] = $2 / 1024; ips[e] = $3; n = e
    printf "epoch %2d  RSS %7.1f MiB  %8.0f img/s\n", e, rss[e], ips[e] }
  END {
    if (n < epochs) { print "soak: only " n " epochs logged"; exit 1 }
    base = rss[2]; peak = base
    for (e = 3; e <= n; e++) if (rss[e] > peak) peak = rss[e]
    for (e = 2; e <= 6; e++) early += ips[e] / 5
    for (e = n - 4; e <= n; e++) late += ips[e] / 5
    printf "RSS after epoch 2: %.1f MiB, peak later: %.1f MiB (growth %.1f MiB, margin %d MiB)\n", base, peak, peak - base, margin
    printf "throughput: epochs 2-6 %.0f img/s, last 5 %.0f img/s (ratio %.3f, floor %.2f)\n", early, late, late / early, ratio
    bad = 0
    if (peak - base > margin) { print "soak: FAIL: memory grows"; bad = 1 }
    if (late < ratio * early) { print "soak: FAIL: throughput decays"; bad = 1 }
    if (!bad) print "soak: ok"
    exit bad
  }' "$out/rows"
