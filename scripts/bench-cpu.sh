#!/usr/bin/env bash
# cnnctl vs PyTorch on this CPU, side by side: for each model, three measurements
# with the same thread count on both sides,
#   train    the training step (forward + loss + backward + SGD-momentum), batch $BATCH
#   infer    inference (eval-mode forward), batch $BATCH: runs of their own in --mode infer,
#            so cnnctl compiles the evaluation plan `cnnctl eval` runs (conv+BN nodes) and
#            PyTorch runs model.eval() under no_grad
#   latency  inference at batch 1: what `cnnctl predict` users feel
# PyTorch through scripts/torch_cpu_bench.py (Debian's python3-torch), cnnctl through
# `cnnctl bench --all --models M --device cpu` (step only, no per-layer run). Runs
# alternate: each round measures every model on both engines back to back, PyTorch
# first in odd rounds and cnnctl first in even ones, so a burst of load from another
# process lands on both. Each run reports the median of $ITERS timed iterations;
# the table gives, per model, the median over the rounds of each engine's time and
# the median (and min-max) of the per-round ratios cnnctl / PyTorch (below 1: cnnctl
# is faster). `make bench-cpu` runs it.
#
#   scripts/bench-cpu.sh                              # all 17 zoo models, 3 rounds
#   MODELS="lenet resnet" scripts/bench-cpu.sh        # a subset
#   QUICK=1 scripts/bench-cpu.sh                      # 1 round, 3 iterations: a first look
#   ROUNDS=5 ITERS=10 WARMUP=3 LAT_ITERS=50 BATCH=128 THREADS=2 OUT=DIR scripts/bench-cpu.sh
#
# PyTorch allocates its activations with glibc malloc, which by default maps every large
# block with mmap and unmaps it on free: every forward then page-faults its activations in
# afresh, and on this VM that made PyTorch's inference 3-4x slower than it can be (resnet at
# batch 128, 1 thread: 230-290 ms against 57-80 ms). cnnctl keeps one arena and never pays
# this. So PyTorch runs with glibc's malloc tuned to keep freed memory (TORCH_MALLOC=tuned,
# the default: MALLOC_MMAP_THRESHOLD_=32 MiB, its maximum, MALLOC_TRIM_THRESHOLD_=4 GiB,
# MALLOC_TOP_PAD_=1 GiB), the usual advice for PyTorch on CPUs; TORCH_MALLOC=default
# measures it as installed.
# PyTorch's first steps are slow (oneDNN primitive creation), hence WARMUP 3 (2 with QUICK).
# Length: README, "Against PyTorch on the same machine" (over an hour for the default on a
# 2-core VM; use MODELS= and QUICK=1 for a first look).
#
# Output: the table on stdout; $OUT/summary.json (schema "cnnctl.bench-cpu", written
# atomically) with every per-round time; each run's own report in
# $OUT/round-K/{torch,cnnctl}-MODEL-{train,infer,latency}.json (schema cnnctl.bench, for
# `cnnctl bench show` and `cnnctl bench compare`). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "bench-cpu: $*" >&2; exit 2; }

CNNCTL=${CNNCTL:-bin/cnnctl}
PY=${PY:-/usr/bin/python3}
[ -x "$CNNCTL" ] || { echo "bench-cpu: $CNNCTL not built (make build)" >&2; exit 1; }
"$PY" -c 'import torch' 2>/dev/null || { echo "bench-cpu: $PY has no torch (apt-get install python3-torch)" >&2; exit 1; }

if [ "${QUICK:-0}" = 1 ]; then
	: "${ROUNDS:=1}" "${ITERS:=3}" "${WARMUP:=2}" "${LAT_ITERS:=20}"
fi
ZOO=$("$CNNCTL" models --json | "$PY" -c 'import json,sys; print(" ".join(m["name"] for m in json.load(sys.stdin)))')
MODELS=${MODELS:-$ZOO}
BATCH=${BATCH:-128}
ROUNDS=${ROUNDS:-3}
ITERS=${ITERS:-5}
WARMUP=${WARMUP:-3}
LAT_ITERS=${LAT_ITERS:-40}
THREADS=${THREADS:-$(nproc)}
OUT=${OUT:-${TMPDIR:-/tmp}/cnnctl-bench-cpu}

for v in BATCH ROUNDS ITERS LAT_ITERS THREADS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || usage "$v=${!v}: want a positive integer"
done
[[ $WARMUP =~ ^[0-9]+$ ]] || usage "WARMUP=$WARMUP: want a non-negative integer"
for m in $MODELS; do
	[[ " $ZOO " == *" $m "* ]] || usage "MODELS: unknown model \"$m\" (the zoo: $ZOO)"
done
mkdir -p "$OUT"

# The same number of threads for both: cnnctl's CPU engine uses GOMAXPROCS; PyTorch
# takes --threads for its own loops and oneDNN, OpenBLAS its own variable.
export GOMAXPROCS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
# Debian's python3-torch calls whichever libblas.so.3 the alternatives system gives it:
# the reference BLAS of libblas3 (plain loops, ~10x slower linears) unless OpenBLAS is
# installed. Say which, here and in summary.json: against the reference BLAS the ratios
# flatter cnnctl.
TORCH_BLAS=$("$PY" -c 'import torch; torch.ones(64, 64) @ torch.ones(64, 64)
print(next((l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.rsplit("/", 1)[-1]), "unknown"))')
case $TORCH_BLAS in
*openblas* | *mkl* | *blis*) ;;
*) echo "bench-cpu: warning: PyTorch runs on $TORCH_BLAS, not OpenBLAS: its linear layers are many times slower than they should be; apt-get install libopenblas0-pthread (or set LD_LIBRARY_PATH to its openblas-pthread folder)" >&2 ;;
esac
export TORCH_BLAS
TORCH_MALLOC=${TORCH_MALLOC:-tuned}
case $TORCH_MALLOC in
tuned) TORCH_ENV=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=1073741824) ;;
default) TORCH_ENV=() ;;
*) usage "TORCH_MALLOC=$TORCH_MALLOC: want tuned or default" ;;
esac
export TORCH_MALLOC
load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_START=$(load)
START=$(date +%s)

torch() { # MODEL MODE BATCH ITERS FILE
	env "${TORCH_ENV[@]}" "$PY" scripts/torch_cpu_bench.py --model "$1" --mode "$2" --batch-size "$3" --iters "$4" \
		--warmup "$WARMUP" --threads "$THREADS" --no-layers -o "$5" 2>/dev/null ||
		{ echo "bench-cpu: PyTorch $1 $2 batch $3 failed: rerun scripts/torch_cpu_bench.py --model $1 --mode $2 --batch-size $3 to see why" >&2; exit 1; }
}
cnnctl() { # MODEL MODE BATCH ITERS FILE
	"$CNNCTL" bench --all --models "$1" --device cpu --mode "$2" --batch-size "$3" --iters "$4" \
		--warmup "$WARMUP" --json -o "$5" 2>/dev/null ||
		{ echo "bench-cpu: cnnctl $1 $2 batch $3 failed: rerun $CNNCTL bench --model $1 --device cpu --mode $2 --batch-size $3 to see why" >&2; exit 1; }
	# --all writes an array of one report; bench compare and bench show read an object.
	"$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); json.dump(r[0], open(sys.argv[1], "w"), indent=2)' "$5"
}

for ((r = 1; r <= ROUNDS; r++)); do
	dir=$OUT/round-$r
	mkdir -p "$dir"
	order="torch cnnctl"
	((r % 2)) || order="cnnctl torch"
	for m in $MODELS; do
		printf 'bench-cpu: round %d/%d %-9s (%ds, load %s)\n' "$r" "$ROUNDS" "$m" $(($(date +%s) - START)) "$(load)" >&2
		for e in $order; do
			$e "$m" train "$BATCH" "$ITERS" "$dir/$e-$m-train.json"
		done
		for e in $order; do
			$e "$m" infer "$BATCH" "$ITERS" "$dir/$e-$m-infer.json"
		done
		for e in $order; do
			$e "$m" infer 1 "$LAT_ITERS" "$dir/$e-$m-latency.json"
		done
	done
done
SECONDS_TOTAL=$(($(date +%s) - START))

"$PY" - "$OUT" "$ROUNDS" "$SECONDS_TOTAL" "$LOAD_START" "$(load)" $MODELS <<'PY'
import datetime, json, os, statistics, sys

out, rounds, secs, load0, load1 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
models = sys.argv[6:]

def read(path):
    with open(path) as f:
        r = json.load(f)
    return r[0] if isinstance(r, list) else r

METRICS = (("train", "train", lambda r: r["step"]["median_ms"]),
           ("infer", "infer", lambda r: r["step"]["median_ms"]),
           ("latency", "latency", lambda r: r["step"]["median_ms"]))
rows, first = [], None
for m in models:
    row = {"model": m}
    for key, run, get in METRICS:
        t, c = [], []
        for k in range(1, rounds + 1):
            tr = read("%s/round-%d/torch-%s-%s.json" % (out, k, m, run))
            cr = read("%s/round-%d/cnnctl-%s-%s.json" % (out, k, m, run))
            first = first or (tr, cr)
            t.append(get(tr))
            c.append(get(cr))
        ratios = [b / a for a, b in zip(t, c)]
        row[key] = {"torch_ms": statistics.median(t), "cnnctl_ms": statistics.median(c),
                    "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
                    "torch_runs_ms": t, "cnnctl_runs_ms": c, "ratios": ratios}
    rows.append(row)

tr, cr = first
batch = tr["batch"]
def ms(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v if v >= 1 else "%.2f" % v
def cell(x):
    spread = "%.2f-%.2f" % (x["ratio_min"], x["ratio_max"]) if rounds > 1 else ""
    return "%8s %8s %5.2f %-9s" % (ms(x["torch_ms"]), ms(x["cnnctl_ms"]), x["ratio"], spread)
heads = ("train step, batch %d" % batch, "inference, batch %d" % batch, "latency, batch 1")
print("%-9s  %s" % ("", "  ".join("%-33s" % h for h in heads)))
print("%-9s  %s" % ("model", "  ".join("%8s %8s %5s %-9s" % ("torch ms", "cnnctl", "ratio", "min-max") for _ in heads)))
for row in rows:
    print("%-9s  %s" % (row["model"], "  ".join(cell(row[k]) for k, _, _ in METRICS)))
over = ["%s %s %.2f" % (row["model"], k, row[k]["ratio"]) for row in rows for k, _, _ in METRICS if row[k]["ratio"] > 1]
print("ratio = cnnctl / PyTorch time (below 1: cnnctl faster), median of %d round(s); times: medians over the rounds" % rounds)
print("%s vs %s (BLAS %s, malloc %s); %d threads each; load average %s at the start, %s at the end; %d s"
      % (cr["device"], "torch " + tr["version"], os.path.basename(os.environ["TORCH_BLAS"]),
         os.environ["TORCH_MALLOC"], int(os.environ.get("GOMAXPROCS", "0")), load0, load1, secs))
print("above 1.0: " + (", ".join(over) if over else "none"))

summary = {
    "schema": "cnnctl.bench-cpu", "schema_version": 1,
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "cnnctl_commit": cr["commit"], "cnnctl_version": cr["version"], "torch_version": tr["version"],
    "cnnctl_device": cr["device"], "torch_device": tr["device"], "torch_blas": os.environ["TORCH_BLAS"],
    "torch_malloc": os.environ["TORCH_MALLOC"],
    "threads": int(os.environ.get("GOMAXPROCS", "0")), "batch": batch, "rounds": rounds,
    "iters": tr["iters"], "warmup": tr["warmup"], "latency_iters": read("%s/round-1/torch-%s-latency.json" % (out, models[0]))["iters"],
    "seconds": secs,
    "load_average_start": load0, "load_average_end": load1,
    "ratio": "cnnctl / PyTorch time; per model the median of the per-round ratios",
    "models": rows,
}
path = os.path.join(out, "summary.json")
with open(path + ".tmp", "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(path + ".tmp", path)
print("summary: %s; each run: %s/round-K/{torch,cnnctl}-MODEL-{train,infer,latency}.json" % (path, out))
PY
