#!/usr/bin/env bash
# gpu-check.sh checks the CUDA engine on a GPU machine that has no Go toolchain.
#
#   scripts/gpu-check.sh build   here: builds everything into gpu-bundle/ (gitignored)
#   scripts/gpu-check.sh run     there, from the repository root (gpu-bundle/ carried along):
#                                runs the bundle, logs to $OUT (or gpu-bundle/logs), prints a table
#
# `run` takes optional step names to run only some: tests device bench train.
# Steps run in priority order, each under its own time limit (seconds) and all
# under GPU_CHECK_TOTAL_S (450: the whole run ends within about 8 minutes,
# leaving a device call of 10 minutes room for the machine's start); a step
# that would start with under 15 s left is recorded as SKIP(no time).
#   TestBackend 120, TestModelStep 150, the other GPU tests 60, cnnctl device 30,
#   bench --peak 45, bench resnet and vgg16-bn (--json) 60 each, lenet and resnet20 40 each,
#   other packages' CUDA tests 60 each, the conv2d Go benchmark 30, train 2 epochs 150.
# GPU_CHECK_TEST_S, GPU_CHECK_BENCH_S and GPU_CHECK_TRAIN_S, when set, replace the
# limits of the test, bench and train steps.
# Files for the records under $OUT: gpu-check.log, summary.txt, bench-resnet.json,
# bench-vgg16-bn.json (the peaks cache and the training run's output go to a temporary folder).
set -uo pipefail

cd "$(dirname "$0")/.."
BUNDLE=gpu-bundle
DATA=/work/shared/data/cifar10-train-jpeg.tar.gz
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

want() { # want STEP: whether STEP was asked for (all when none named)
	[ ${#STEPS[@]} -eq 0 ] && return 0
	local s
	for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done
	return 1
}

run() {
	STEPS=("$@")
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
	local root=$PWD t dir cnn=$BUNDLE/cnnctl-cuda m
	local gt="cd internal/gpu && '$root/$BUNDLE/gpu.test' -test.v -test.count=1"
	if want tests; then
		step "test TestBackend" "${GPU_CHECK_TEST_S:-120}" bash -c "$gt -test.run '^TestBackend\$'"
		step "test TestModelStep" "${GPU_CHECK_TEST_S:-150}" bash -c "$gt -test.run '^TestModelStep\$'"
		step "test gpu (the others)" "${GPU_CHECK_TEST_S:-60}" bash -c "$gt -test.skip '^(TestBackend|TestModelStep)\$'"
	fi
	if [ -x "$cnn" ]; then
		want device && step "cnnctl device" 30 "$cnn" device
		if want bench; then
			step "cnnctl bench --peak" 45 "$cnn" bench --peak --device cuda
			for m in resnet vgg16-bn; do
				step "cnnctl bench $m" "${GPU_CHECK_BENCH_S:-60}" "$cnn" bench --model "$m" --batch-size 128 --device cuda \
					--json -o "$logdir/bench-$m.json"
				[ -s "$logdir/bench-$m.json" ] && "$cnn" bench show "$logdir/bench-$m.json" >>"$LOG" 2>&1
			done
			for m in lenet resnet20; do
				step "cnnctl bench $m" "${GPU_CHECK_BENCH_S:-40}" "$cnn" bench --model "$m" --batch-size 128 --device cuda
			done
		fi
	else
		RESULTS+=("$(printf '%-34s %-16s' "cnnctl-cuda" "SKIP(not built)")")
	fi
	if want tests; then
		for t in "$BUNDLE"/*.test; do
			[ -x "$t" ] && [ "$t" != "$BUNDLE/gpu.test" ] || continue
			dir=$(cat "$t.dir")
			step "test $(basename "$t")" "${GPU_CHECK_TEST_S:-60}" bash -c "cd '$dir' && '$root/$t' -test.v -test.count=1"
		done
		step "bench gpu.test conv2d" 30 \
			bash -c "cd internal/gpu && '$root/$BUNDLE/gpu.test' -test.run '^\$' -test.bench Conv2D -test.benchtime 20x"
	fi
	if [ -x "$cnn" ] && want train; then
		if [ -f "$BUNDLE/cifar10-train-jpeg.tar.gz" ]; then
			step "cnnctl train resnet" "${GPU_CHECK_TRAIN_S:-150}" "$cnn" train --model resnet \
				--data "imagefolder:$BUNDLE/cifar10-train-jpeg.tar.gz" --epochs 2 --val-split 0.1 --device cuda \
				--out "$scratch/train-resnet"
		else
			RESULTS+=("$(printf '%-34s %-16s' "cnnctl train resnet" "SKIP(no data)")")
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
*)
	echo "usage: scripts/gpu-check.sh build | run [tests|device|bench|train ...]" >&2
	exit 2
	;;
esac
