#!/usr/bin/env bash
# cnnctl vs PyTorch on this CPU, side by side in one run: for each model, the
# PyTorch reference (scripts/torch_cpu_bench.py, 2 threads) and `cnnctl bench
# --device cpu` at the same batch, both writing the bench JSON schema, then one
# line per model with the train-step and inference ratios (cnnctl / PyTorch:
# below 1 means cnnctl is faster). `make bench-cpu` runs it.
#
#   MODELS="lenet resnet" BATCH=128 ITERS=10 WARMUP=3 OUT=DIR scripts/bench-cpu.sh
#
# The JSON files stay in $OUT (default /tmp/cnnctl-bench-cpu) for `cnnctl bench compare torch-M.json cnnctl-M.json`.
set -euo pipefail
cd "$(dirname "$0")/.."

MODELS=${MODELS:-"lenet lenet-bn resnet resnet20 alexnet nin vgg11-bn"}
BATCH=${BATCH:-128}
ITERS=${ITERS:-10}
WARMUP=${WARMUP:-3}
THREADS=${THREADS:-2}
OUT=${OUT:-${TMPDIR:-/tmp}/cnnctl-bench-cpu}
CNNCTL=${CNNCTL:-bin/cnnctl}
PY=${PY:-/usr/bin/python3}

[ -x "$CNNCTL" ] || { echo "bench-cpu: $CNNCTL not built (make build)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "bench-cpu: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }
mkdir -p "$OUT"

# The same number of threads for both: cnnctl uses GOMAXPROCS.
export GOMAXPROCS=$THREADS
for m in $MODELS; do
	"$PY" scripts/torch_cpu_bench.py --model "$m" --batch-size "$BATCH" --iters "$ITERS" \
		--warmup "$WARMUP" --threads "$THREADS" -o "$OUT/torch-$m.json"
	"$CNNCTL" bench --model "$m" --device cpu --batch-size "$BATCH" --iters "$ITERS" \
		--warmup "$WARMUP" --json -o "$OUT/cnnctl-$m.json"
done

"$PY" - "$OUT" $MODELS <<'PY'
import json, sys
out, models = sys.argv[1], sys.argv[2:]
print("%-10s %12s %12s %7s %12s %12s %7s" % ("model", "torch step", "cnnctl step", "ratio",
                                            "torch infer", "cnnctl infer", "ratio"))
for m in models:
    t = json.load(open("%s/torch-%s.json" % (out, m)))
    c = json.load(open("%s/cnnctl-%s.json" % (out, m)))
    ts, cs = t["step"]["median_ms"], c["step"]["median_ms"]
    ti, ci = t["throughput"]["infer_ms"], c["throughput"]["infer_ms"]
    print("%-10s %9.1f ms %9.1f ms %6.2fx %9.1f ms %9.1f ms %6.2fx" % (m, ts, cs, cs / ts, ti, ci, ci / ti))
print("ratio = cnnctl / PyTorch time, batch %d, %s; per layer: cnnctl bench compare %s/torch-M.json %s/cnnctl-M.json"
      % (t["batch"], t["device"], out, out))
PY
