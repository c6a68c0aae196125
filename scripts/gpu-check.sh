#!/usr/bin/env bash
# gpu-check.sh checks the CUDA engine on a GPU machine that has no Go toolchain.
#
#   scripts/gpu-check.sh build   here: builds everything into gpu-bundle/ (gitignored)
#   scripts/gpu-check.sh run     there, from the repository root (gpu-bundle/ carried along):
#                                runs the bundle, logs to $OUT (or gpu-bundle/logs), prints a table
#
# `run` takes optional step names to run only some: tests device bench train.
# Each step has a time limit (seconds): GPU_CHECK_TEST_S (300), GPU_CHECK_BENCH_S
# (90 per model), GPU_CHECK_TRAIN_S (300).
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

# step NAME LIMIT CMD...: runs CMD with a time limit, appends its output to
# the log and records pass/fail.
RESULTS=()
step() {
	local name=$1 limit=$2
	shift 2
	local t0=$SECONDS rc
	{
		echo
		echo "=== $name: $*"
	} >>"$LOG"
	timeout "$limit" "$@" >>"$LOG" 2>&1
	rc=$?
	local verdict=PASS
	[ $rc -eq 124 ] && verdict="TIMEOUT(${limit}s)"
	[ $rc -ne 0 ] && [ $rc -ne 124 ] && verdict="FAIL(rc=$rc)"
	RESULTS+=("$(printf '%-28s %-16s %5ss' "$name" "$verdict" $((SECONDS - t0)))")
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
	local logdir=${OUT:-$BUNDLE/logs}
	mkdir -p "$logdir"
	LOG=$logdir/gpu-check.log
	: >"$LOG"
	nvidia-smi >>"$LOG" 2>&1 || echo "nvidia-smi not available" >>"$LOG"
	export CNNCTL_REQUIRE_GPU=1 # GPU tests fail instead of skipping without a GPU
	local root=$PWD t dir
	if want tests; then
		for t in "$BUNDLE"/*.test; do
			[ -x "$t" ] || continue
			dir=.
			[ -f "$t.dir" ] && dir=$(cat "$t.dir")
			[ "$t" = "$BUNDLE/gpu.test" ] && dir=internal/gpu
			step "test $(basename "$t")" "${GPU_CHECK_TEST_S:-300}" \
				bash -c "cd '$dir' && '$root/$t' -test.v -test.count=1"
		done
		step "bench gpu.test conv2d" "${GPU_CHECK_TEST_S:-300}" \
			bash -c "cd internal/gpu && '$root/$BUNDLE/gpu.test' -test.run '^$' -test.bench Conv2D -test.benchtime 20x"
	fi
	local cnn=$BUNDLE/cnnctl-cuda
	if [ -x "$cnn" ]; then
		want device && step "cnnctl device" 60 "$cnn" device
		if want bench; then
			local m
			for m in lenet resnet resnet20 vgg16-bn; do
				step "cnnctl bench $m" "${GPU_CHECK_BENCH_S:-90}" "$cnn" bench --model "$m" --batch-size 128 --device cuda
			done
		fi
		if want train; then
			if [ -f "$BUNDLE/cifar10-train-jpeg.tar.gz" ]; then
				step "cnnctl train resnet" "${GPU_CHECK_TRAIN_S:-300}" "$cnn" train --model resnet \
					--data "imagefolder:$BUNDLE/cifar10-train-jpeg.tar.gz" --epochs 2 --val-split 0.1 --device cuda
			else
				RESULTS+=("$(printf '%-28s %-16s' "cnnctl train resnet" "SKIP(no data)")")
			fi
		fi
	else
		RESULTS+=("$(printf '%-28s %-16s' "cnnctl-cuda" "SKIP(not built)")")
	fi
	{
		echo
		echo "gpu-check summary ($(date -u +%FT%TZ))"
		printf '%s\n' "${RESULTS[@]}"
	} | tee "$logdir/summary.txt"
	echo "log: $LOG"
	! grep -q -E 'FAIL|TIMEOUT' "$logdir/summary.txt"
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
