#!/usr/bin/env bash
# gpu-check.sh checks the CUDA engine on a GPU machine that has no Go toolchain.
#
#   scripts/gpu-check.sh build   here: builds everything into gpu-bundle/ (gitignored)
#   scripts/gpu-check.sh run     there, from the repository root (gpu-bundle/ carried along):
#                                runs the bundle, logs to $OUT (or gpu-bundle/logs), prints a table
#
# `run` takes optional step names to run only some: tests device bench ratios train, and
# tta (time to accuracy, issue 16: resnet-fast 15 epochs in cnnctl and in PyTorch, about
# 3 minutes), which runs only when named: `scripts/gpu-check.sh run tta`.
# GPU_CHECK_TTA_RECIPE picks tta's recipe (default resnet-fast; resnet-fast-512 runs the
# batch-512 variant, PyTorch then with that recipe's batch-size and lr).
# Steps run in priority order, each under its own time limit (seconds) and all
# under GPU_CHECK_TOTAL_S (450: the whole run ends within about 8 minutes,
# leaving a device call of 10 minutes room for the machine's start); a step
# that would start with under 15 s left is recorded as SKIP(no time).
#   TestBackend 120, TestBackendTF32 60, TestBackendBF16 60, TestModelStep 240, the other
#   GPU tests 60, cnnctl device 30, bench --peak 45, bench resnet and vgg16-bn (--json) 60
#   each, vgg16-bn --precision tf32 and bf16 (--json) 60 each, lenet and resnet20 40 each,
#   other packages' CUDA tests 60 each, the conv2d (with the fused epilogue, the 1x1 class
#   against the generic kernels and the TF32 linear) Go benchmarks 60, the BatchNorm ones
#   (with conv2d+batchnorm fused against plain) 30,
#   the PyTorch + cuDNN reference (part of `bench`) 90, the ratios (below) 90 per cnnctl
#   and 120 per PyTorch run, train 2 epochs 150.
# GPU_CHECK_TEST_S, GPU_CHECK_BENCH_S, GPU_CHECK_TORCH_S, GPU_CHECK_RATIO_S and
# GPU_CHECK_TRAIN_S, when set, replace the limits of the test, bench, PyTorch, ratio
# (each of its seven runs) and train steps.
# The ratios (step `ratios`): all 17 zoo models (configs/models/*.yaml) at batch 128,
# `cnnctl bench --all` at --precision fp32, tf32 and bf16 (10 iterations after 2 warmup)
# and scripts/torch_cpu_bench.py --device cuda --no-layers with --tf32 off, with PyTorch's
# defaults, and with bf16 autocast (--amp bf16) in NCHW and in channels_last (10 after
# 3; --keep-going: the models whose forward cannot run channels_last are left out of
# that run, and their bf16 ratio is against NCHW); scripts/gpu_ratios.py prints cnnctl/PyTorch per model, fp32 strict vs TF32 off,
# tf32 vs the defaults and bf16 vs bf16 autocast (whichever layout PyTorch ran faster),
# with the issue's targets, into the log and the summary, and writes ratios.json. Sized
# from the 2026-11-30 H200 run: the 17 steps add up to 0.65 s in cnnctl fp32 (googlenet
# 0.23 s), so ~25 s per cnnctl run with the inference timing; PyTorch took ~25 s for all
# 17 at 20 iterations (cuDNN's autotuning of googlenet ~13 s of it): about 3.5 minutes
# for the seven runs (the ratios come after the tests and benches: they get what is left).
# TestModelStep is judged by the float64 referee: the test writes the weights and batch,
# runs scripts/torch_f64_step.py with $PYTHON (default python3; it needs torch, on the CPU)
# and compares the GPU, both CPU engines and PyTorch float32 against float64, per tensor.
# The PyTorch step (where `python3 -c 'import torch; assert torch.cuda.is_available()'`
# works; else SKIP(no torch cuda), not a failure) runs scripts/torch_cpu_bench.py
# --device cuda for resnet and vgg16-bn at batch 128 in four variants: fp32 (PyTorch's
# defaults: cuDNN may use TF32), fp32 channels_last, bf16 AMP channels_last, and fp32 with
# TF32 off; it prints the ratios cnnctl/PyTorch of the train-step medians into the log and
# the summary (and `bench compare` PyTorch vs cnnctl into the log).
# Files for the records under $OUT (at most 8 come back; these are 8): gpu-check.log,
# summary.txt, bench-resnet.json, bench-vgg16-bn.json, bench-vgg16-bn-tf32.json,
# bench-vgg16-bn-bf16.json,
# torch-bench.json (a list of the PyTorch reports, each with an extra key "variant"),
# ratios.json. The peaks cache, the per-variant PyTorch files, the --all reports and the
# training run's output go to a temporary folder.
set -uo pipefail

cd "$(dirname "$0")/.."
BUNDLE=${GPU_CHECK_BUNDLE:-gpu-bundle} # another folder: scripts/test-gpu-check.sh
# The CIFAR-10 training JPEGs for the train step: CNNCTL_CIFAR_JPEG, else the
# shared folder beside the repository (optional: without it the bundle has no
# data and the train step is SKIP(no data)).
DATA=${CNNCTL_CIFAR_JPEG:-../shared/data/cifar10-train-jpeg.tar.gz}
LIMIT_MIB=64

build() {
	set -e
	if ! command -v nvcc >/dev/null 2>&1; then
		echo "gpu-check build: nvcc not found (run scripts/setup-cuda.sh)" >&2
		exit 1
	fi
	rm -rf "$BUNDLE"
	mkdir -p "$BUNDLE"
	scripts/build-kernels.sh
	local ld='-s -w'
	echo "building $BUNDLE/gpu.test"
	go test -c -tags cuda -ldflags="$ld" -o "$BUNDLE/gpu.test" ./internal/gpu/
	# Other packages with CUDA-only tests.
	local f pkg name
	for f in $(grep -rl --include='*_test.go' '^//go:build cuda' internal cmd 2>/dev/null | grep -v '^internal/gpu/' || true); do
		pkg=$(dirname "$f")
		name=$(echo "$pkg" | tr / _).test
		[ -e "$BUNDLE/$name" ] && continue
		echo "building $BUNDLE/$name"
		go test -c -tags cuda -ldflags="$ld" -o "$BUNDLE/$name" "./$pkg" || echo "WARNING: $pkg cuda tests do not build; skipped"
		echo "$pkg" >"$BUNDLE/$name.dir"
	done
	git rev-parse --short=12 HEAD >"$BUNDLE/commit" 2>/dev/null || echo unknown >"$BUNDLE/commit"
	git diff --quiet HEAD 2>/dev/null || sed -i 's/$/-dirty/' "$BUNDLE/commit"
	echo "building $BUNDLE/cnnctl-cuda"
	if ! go build -tags cuda -ldflags="$ld" -o "$BUNDLE/cnnctl-cuda" ./cmd/cnnctl; then
		echo "WARNING: cmd/cnnctl does not build with -tags cuda yet; the bundle has no cnnctl-cuda"
		rm -f "$BUNDLE/cnnctl-cuda"
	fi
	if [ -f "$DATA" ]; then
		cp "$DATA" "$BUNDLE/"
	else
		echo "WARNING: $DATA not found; the train step will be skipped"
	fi
	# The executables travel gzipped (each embeds the fatbin; together they
	# passed the 64 MiB carry limit): run unpacks them first.
	for f in "$BUNDLE"/*.test "$BUNDLE"/cnnctl-cuda; do
		[ -f "$f" ] && gzip -9 "$f"
	done
	local bytes
	bytes=$(du -cb "$BUNDLE" | tail -n 1 | cut -f1)
	ls -l "$BUNDLE"
	echo "bundle: $((bytes / 1024 / 1024)) MiB (limit ${LIMIT_MIB} MiB, shared with the rest of the working tree)"
	if [ "$bytes" -ge $((LIMIT_MIB * 1024 * 1024)) ]; then
		echo "gpu-check build: bundle too large to carry" >&2
		exit 1
	fi
	echo "next, on the GPU machine: scripts/gpu-check.sh run   (carry: $BUNDLE)"
}

# step NAME LIMIT CMD...: runs CMD with a time limit (cut to what is left of
# the total), appends its output to the log and records pass/fail.
RESULTS=()
step() {
	local name=$1 limit=$2
	shift 2
	local left=$((DEADLINE - SECONDS))
	if [ $left -lt 15 ]; then
		RESULTS+=("$(printf '%-34s %-16s' "$name" "SKIP(no time)")")
		echo "$name: SKIP(no time)"
		return
	fi
	[ "$limit" -gt "$left" ] && limit=$left
	local t0=$SECONDS rc
	{
		echo
		echo "=== $name (limit ${limit}s): $*"
	} >>"$LOG"
	timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
	rc=$?
	local verdict=PASS
	[ $rc -eq 124 ] || [ $rc -eq 137 ] && verdict="TIMEOUT(${limit}s)"
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && [ $rc -ne 137 ] && verdict="FAIL(rc=$rc)"
	RESULTS+=("$(printf '%-34s %-16s %5ss' "$name" "$verdict" $((SECONDS - t0)))")
	echo "=== $name: $verdict in $((SECONDS - t0))s" >>"$LOG"
	echo "$name: $verdict"
}

# torch_bench LOGDIR DIR LIMIT [CNNCTL]: the PyTorch + cuDNN reference (run as
# `scripts/gpu-check.sh torch-bench ...` by the run's step, so that `timeout` can wrap it).
# Each variant gets what is left of LIMIT less 15 s for the summary; one that would
# start with under 20 s left is skipped. Exits non-zero if a variant failed.
torch_bench() {
	local logdir=$1 dir=$2 limit=$3 cnn=${4:-} py=${PYTHON:-python3}
	local deadline=$((SECONDS + limit - 15)) rc=0 v left
	local -A flags=([fp32]="" [fp32-cl]="--channels-last" [bf16-cl]="--amp bf16 --channels-last"
		[fp32-notf32]="--tf32 off")
	mkdir -p "$dir"
	for v in fp32 fp32-cl bf16-cl fp32-notf32; do
		left=$((deadline - SECONDS))
		if [ $left -lt 20 ]; then
			echo "torch bench $v: skipped (no time)"
			continue
		fi
		echo "--- torch bench $v (limit ${left}s)"
		# shellcheck disable=SC2086 # flags are words
		timeout -k 5 "$left" "$py" scripts/torch_cpu_bench.py --device cuda --model resnet --model vgg16-bn \
			--batch-size 128 --iters 20 --warmup 5 --no-layers ${flags[$v]} -o "$dir/$v.json" || {
			echo "torch bench $v: failed (rc=$?)"
			rc=1
		}
	done
	# One file for all the PyTorch reports; single ones for `bench compare`; the ratios.
	"$py" - "$dir" "$logdir" <<'PY' || rc=1
import json, os, sys
d, logdir = sys.argv[1], sys.argv[2]
names = {"fp32": "fp32", "fp32-cl": "fp32 channels_last", "bf16-cl": "bf16 AMP channels_last",
         "fp32-notf32": "fp32, TF32 off"}
allr, lines, pairs = [], [], []
for v in names:
    p = os.path.join(d, v + ".json")
    if not os.path.exists(p):
        continue
    rs = json.load(open(p))
    for r in rs if isinstance(rs, list) else [rs]:
        r["variant"] = v
        allr.append(r)
        one = os.path.join(d, "torch-%s-%s.json" % (r["model"], v))
        json.dump(r, open(one, "w"), indent=2)
        ours = os.path.join(logdir, "bench-%s.json" % r["model"])
        t = r["step"]["median_ms"]
        if os.path.exists(ours):
            c = json.load(open(ours))["step"]["median_ms"]
            pairs.append(one + " " + ours)
            lines.append("ratio cnnctl/PyTorch %-9s %-23s %6.2fx  (train step %.2f ms vs %.2f ms)"
                         % (r["model"], names[v], c / t if t > 0 else float("nan"), c, t))
        else:
            lines.append("PyTorch %-9s %-23s train step %.2f ms (no cnnctl bench-%s.json)"
                         % (r["model"], names[v], t, r["model"]))
if allr:
    json.dump(allr, open(os.path.join(logdir, "torch-bench.json"), "w"), indent=2)
    print("devices: " + "; ".join(sorted({r["device"] for r in allr})))
open(os.path.join(d, "ratios.txt"), "w").write("".join(l + "\n" for l in lines))
open(os.path.join(d, "pairs.txt"), "w").write("".join(p + "\n" for p in pairs))
print("\n".join(lines) if lines else "no PyTorch results")
PY
	if [ -x "$cnn" ] && [ -s "$dir/pairs.txt" ]; then
		local a b
		while read -r a b; do
			echo
			echo "--- bench compare $(basename "$a") (A, PyTorch) vs $(basename "$b") (B, cnnctl)"
			"$cnn" bench compare "$a" "$b" || true
		done <"$dir/pairs.txt"
	fi
	return $rc
}

# ratios LOGDIR DIR CNNCTL: the cnnctl/PyTorch train-step ratios of every zoo
# model (see the top of this file); each of the seven runs is a step of its own.
ratios() {
	local logdir=$1 dir=$2 cnn=$3 py=${PYTHON:-python3} lim=${GPU_CHECK_RATIO_S:-} p rl
	local -a models=() margs=()
	# GPU_CHECK_RATIO_MODELS (space-separated) narrows the zoo: scripts/test-gpu-check.sh.
	for p in ${GPU_CHECK_RATIO_MODELS:-configs/models/*.yaml}; do
		models+=("$(basename "$p" .yaml)")
		margs+=(--model "$(basename "$p" .yaml)")
	done
	mkdir -p "$dir"
	echo "ratios: ${#models[@]} models: ${models[*]}" >>"$LOG"
	if [ -x "$cnn" ]; then
		for p in fp32 tf32 bf16; do
			step "ratios: cnnctl --all $p" "${lim:-90}" "$cnn" bench --all --models "$(IFS=,; echo "${models[*]}")" \
				--batch-size 128 --iters 10 --warmup 2 --device cuda --precision "$p" --json -o "$dir/cnnctl-$p.json"
		done
	else
		RESULTS+=("$(printf '%-34s %-16s' "ratios: cnnctl" "SKIP(not built)")")
	fi
	if timeout -k 5 60 "$py" -c 'import torch; assert torch.cuda.is_available()' >>"$LOG" 2>&1; then
		local -A flags=([tf32-off]="--tf32 off" [default]="--tf32 default" [bf16]="--amp bf16"
			[bf16-cl]="--amp bf16 --channels-last")
		for p in tf32-off default bf16 bf16-cl; do
			# shellcheck disable=SC2086 # flags are words
			step "ratios: PyTorch ${flags[$p]}" "${lim:-120}" "$py" scripts/torch_cpu_bench.py --device cuda "${margs[@]}" \
				--batch-size 128 --iters 10 --warmup 3 --no-layers ${flags[$p]} --keep-going -o "$dir/torch-$p.json"
		done
	else
		RESULTS+=("$(printf '%-34s %-16s' "ratios: PyTorch" "SKIP(no torch cuda)")")
		echo "ratios: PyTorch: SKIP(no torch cuda)" | tee -a "$LOG"
	fi
	if "$py" scripts/gpu_ratios.py "$dir" -o "$logdir/ratios.json" >"$dir/table.txt" 2>>"$LOG"; then
		cat "$dir/table.txt" >>"$LOG"
		while IFS= read -r rl; do RESULTS+=("  $rl"); done <"$dir/table.txt"
	else
		cat "$dir/table.txt" >>"$LOG"
		RESULTS+=("$(printf '%-34s %-16s' "ratios: table" "SKIP(no results)")")
		rm -f "$logdir/ratios.json"
	fi
}

want() { # want STEP: whether STEP was asked for (all when none named)
	[ ${#STEPS[@]} -eq 0 ] && return 0
	local s
	for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

# unpack gunzips the executables build packed (not the data's .tar.gz).
unpack() {
	local f
	for f in "$BUNDLE"/*.gz; do
		case $f in *.tar.gz | "$BUNDLE/*.gz") continue ;; esac
		gzip -dc "$f" >"${f%.gz}" && chmod +x "${f%.gz}" && rm -f "$f"
	done
}

run() {
	STEPS=("$@")
	unpack
	DEADLINE=$((SECONDS + ${GPU_CHECK_TOTAL_S:-450}))
	local logdir=${OUT:-$BUNDLE/logs}
	mkdir -p "$logdir"
	LOG=$logdir/gpu-check.log
	: >"$LOG"
	{
		echo "gpu-check run $(date -u +%FT%TZ), commit $(cat "$BUNDLE/commit" 2>/dev/null || echo unknown)"
		nvidia-smi || echo "nvidia-smi not available"
	} >>"$LOG" 2>&1
	export CNNCTL_REQUIRE_GPU=1 # GPU tests fail instead of skipping without a GPU
	local scratch
	scratch=$(mktemp -d) # outside $OUT: only the records come back
	export XDG_CACHE_HOME=$scratch/cache # bench --peak's cache, for the bench steps after it
	local t dir cnn=$BUNDLE/cnnctl-cuda m bundle
	bundle=$(cd "$BUNDLE" && pwd) # absolute: the test steps cd into their package
	local gt="cd internal/gpu && '$bundle/gpu.test' -test.v -test.count=1"
	if want tests; then
		step "test TestBackend" "${GPU_CHECK_TEST_S:-120}" bash -c "$gt -test.run '^TestBackend\$'"
		step "test TestBackendTF32" "${GPU_CHECK_TEST_S:-60}" bash -c "$gt -test.run '^TestBackendTF32\$'"
		step "test TestBackendBF16" "${GPU_CHECK_TEST_S:-60}" bash -c "$gt -test.run '^TestBackendBF16\$'"
		export CNNCTL_TORCH_PYTHON=${PYTHON:-python3} # the float64 referee of TestModelStep
		step "test TestModelStep" "${GPU_CHECK_TEST_S:-240}" bash -c "$gt -test.run '^TestModelStep\$'"
		step "test gpu (the others)" "${GPU_CHECK_TEST_S:-60}" bash -c "$gt -test.skip '^(TestBackend|TestBackendTF32|TestBackendBF16|TestModelStep)\$'"
	fi
	if [ -x "$cnn" ]; then
		want device && step "cnnctl device" 30 "$cnn" device --kernels
		if want bench; then
			step "cnnctl bench --peak" 45 "$cnn" bench --peak --device cuda
			for m in resnet vgg16-bn; do
				# fp32 explicitly (the default is tf32): comparable with the runs before it.
				step "cnnctl bench $m" "${GPU_CHECK_BENCH_S:-60}" "$cnn" bench --model "$m" --batch-size 128 --device cuda \
					--precision fp32 --json -o "$logdir/bench-$m.json"
				[ -s "$logdir/bench-$m.json" ] && "$cnn" bench show "$logdir/bench-$m.json" >>"$LOG" 2>&1
			done
			# The TF32 and bf16 convolutions, per layer: TFLOP/s against that math's peak.
			for p in tf32 bf16; do
				step "cnnctl bench vgg16-bn $p" "${GPU_CHECK_BENCH_S:-60}" "$cnn" bench --model vgg16-bn --batch-size 128 --device cuda \
					--precision "$p" --json -o "$logdir/bench-vgg16-bn-$p.json"
				[ -s "$logdir/bench-vgg16-bn-$p.json" ] && "$cnn" bench show "$logdir/bench-vgg16-bn-$p.json" >>"$LOG" 2>&1
			done
			for m in lenet resnet20; do
				step "cnnctl bench $m" "${GPU_CHECK_BENCH_S:-40}" "$cnn" bench --model "$m" --batch-size 128 --device cuda --precision fp32
			done
		fi
	else
		RESULTS+=("$(printf '%-34s %-16s' "cnnctl-cuda" "SKIP(not built)")")
	fi
	if want tests; then
		for t in "$BUNDLE"/*.test; do
			[ -x "$t" ] && [ "$t" != "$BUNDLE/gpu.test" ] || continue
			dir=$(cat "$t.dir")
			step "test $(basename "$t")" "${GPU_CHECK_TEST_S:-60}" bash -c "cd '$dir' && '$bundle/$(basename "$t")' -test.v -test.count=1"
		done
		step "bench gpu.test conv2d, 1x1, linear" 60 \
			bash -c "cd internal/gpu && '$bundle/gpu.test' -test.run '^\$' -test.bench 'Conv2D|Conv1x1|LinearTF32' -test.benchtime 20x"
		step "bench gpu.test BatchNorm" 30 \
			bash -c "cd internal/gpu && '$bundle/gpu.test' -test.run '^\$' -test.bench BatchNorm -test.benchtime 20x"
	fi
	if want bench; then
		if timeout -k 5 60 "${PYTHON:-python3}" -c 'import torch; assert torch.cuda.is_available()' >>"$LOG" 2>&1; then
			local tl=${GPU_CHECK_TORCH_S:-90} left=$((DEADLINE - SECONDS)) rl
			[ "$tl" -gt "$left" ] && tl=$left
			step "torch bench (PyTorch+cuDNN)" "$tl" bash scripts/gpu-check.sh torch-bench "$logdir" "$scratch/torch" "$tl" "$cnn"
			if [ -s "$scratch/torch/ratios.txt" ]; then
				while IFS= read -r rl; do RESULTS+=("  $rl"); done <"$scratch/torch/ratios.txt"
			fi
		else
			RESULTS+=("$(printf '%-34s %-16s' "torch bench (PyTorch+cuDNN)" "SKIP(no torch cuda)")")
			echo "torch bench (PyTorch+cuDNN): SKIP(no torch cuda)" | tee -a "$LOG"
		fi
	fi
	want ratios && ratios "$logdir" "$scratch/ratios" "$cnn"
	if [ -x "$cnn" ] && want train; then
		if [ -f "$BUNDLE/cifar10-train-jpeg.tar.gz" ]; then
			step "cnnctl train resnet" "${GPU_CHECK_TRAIN_S:-150}" "$cnn" train --model resnet \
				--data "imagefolder:$BUNDLE/cifar10-train-jpeg.tar.gz" --epochs 2 --val-split 0.1 --device cuda \
				--out "$scratch/train-resnet"
		else
			RESULTS+=("$(printf '%-34s %-16s' "cnnctl train resnet" "SKIP(no data)")")
		fi
	fi
	# Time to accuracy (issue 16), only when asked for (`run tta`: about 3 minutes):
	# resnet-fast for GPU_CHECK_TTA_EPOCHS (15) epochs on the CIFAR-10 JPEGs with
	# --val-split 0.1, cnnctl and then scripts/torch_train.py (the same recipe in PyTorch,
	# data and augmentation on the GPU). Both decode the JPEGs first and do not count it.
	if [ -x "$cnn" ] && [ ${#STEPS[@]} -gt 0 ] && want tta; then
		local ep=${GPU_CHECK_TTA_EPOCHS:-15} tar=$BUNDLE/cifar10-train-jpeg.tar.gz
		local recipe=${GPU_CHECK_TTA_RECIPE:-resnet-fast}
		# PyTorch gets the recipe's batch size and peak lr (the rest is resnet-fast's in both).
		local tbatch tlr
		tbatch=$(sed -n 's/^batch-size: *//p' "configs/recipes/$recipe.yaml")
		tlr=$(sed -n 's/^lr: *//p' "configs/recipes/$recipe.yaml")
		if [ -f "$tar" ] && [ -n "$tbatch" ] && [ -n "$tlr" ]; then
			step "tta cnnctl $recipe ${ep} ep" "${GPU_CHECK_TTA_S:-200}" "$cnn" train --model resnet --config "$recipe" \
				--epochs "$ep" --data "imagefolder:$tar" --val-split 0.1 --device cuda --out "$scratch/tta-cnnctl"
			step "tta pytorch $recipe ${ep} ep" "${GPU_CHECK_TTA_S:-200}" "${PYTHON:-python3}" scripts/torch_train.py "$tar" \
				--epochs "$ep" --batch-size "$tbatch" --lr "$tlr" --recipe "$recipe" --json "$logdir/tta-torch.json"
			"${PYTHON:-python3}" - "$scratch/tta-cnnctl/metrics.jsonl" "$logdir/tta-torch.json" "$recipe" >"$scratch/tta.txt" 2>>"$LOG" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
t = json.load(open(sys.argv[2]))
c = sum(r["seconds"] for r in rows)
print("tta %s %d ep: cnnctl %.1f s, val top-1 %.4f; PyTorch %.1f s, val top-1 %.4f; ratio %.2fx (decode excluded on both sides)"
      % (sys.argv[3], len(rows), c, rows[-1]["val_top1"], t["wall_s"], t["val_top1"], c / t["wall_s"]))
PYEOF
			[ -s "$scratch/tta.txt" ] && RESULTS+=("  $(cat "$scratch/tta.txt")")
		else
			RESULTS+=("$(printf '%-34s %-16s' "tta $recipe" "SKIP(no data or no recipe)")")
		fi
	fi
	{
		echo
		echo "gpu-check summary ($(date -u +%FT%TZ), $SECONDS s)"
		printf '%s\n' "${RESULTS[@]}"
	} | tee "$logdir/summary.txt" >>"$LOG"
	cat "$logdir/summary.txt"
	echo "log: $LOG"
	! grep -q -E 'FAIL|TIMEOUT|no time' "$logdir/summary.txt"
}

case "${1:-}" in
build) build ;;
run)
	shift
	run "$@"
	;;
torch-bench)
	shift
	torch_bench "$@"
	;;
*)
	echo "usage: scripts/gpu-check.sh build | run [tests|device|bench|ratios|train|tta ...]" >&2
	exit 2
	;;
esac
