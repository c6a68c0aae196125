#!/usr/bin/env bash
# test-gpu-check.sh tests the mechanics of scripts/gpu-check.sh on a machine
# without a GPU (no Go needed on the GPU machine, so a mistake there costs a
# device run):
#  1. a bundle whose cnnctl-cuda is this machine's pure-Go build: every cnnctl
#     step on --device cuda fails (exit 3), PyTorch has no CUDA and is skipped,
#     the ratio table says there are no results, and the run exits non-zero;
#  2. a stand-in "GPU": cnnctl-cuda and python3 wrappers that run the same
#     commands on the CPU (--device cpu, batch 2, 1 iteration), so that the
#     ratios step goes end to end through the real cnnctl, torch_cpu_bench.py
#     and gpu_ratios.py for two models (lenet, which cannot run channels_last,
#     and resnet20, which can), and a gpu.test stand-in that records how
#     it is called (TestBackendTF32, the BatchNorm benchmark).
# Needs Go and python3 with torch (CPU); about a minute on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() {
	echo "test-gpu-check: $*" >&2
	exit 1
}

mkdir -p "$tmp/b1" "$tmp/b2" "$tmp/out1" "$tmp/out2"
CGO_ENABLED=0 go build -o "$tmp/cnnctl" ./cmd/cnnctl
cp "$tmp/cnnctl" "$tmp/b1/cnnctl-cuda"
echo test >"$tmp/b1/commit"

echo "== 1: no GPU: the cnnctl steps fail, PyTorch is skipped"
set +e
GPU_CHECK_BUNDLE=$tmp/b1 OUT=$tmp/out1 PYTHON=$py GPU_CHECK_RATIO_MODELS="lenet mlp" XDG_CACHE_HOME=$tmp/cache \
	scripts/gpu-check.sh run ratios >"$tmp/run1.txt" 2>&1
rc=$?
set -e
cat "$tmp/out1/summary.txt"
[ $rc -ne 0 ] || fail "run 1 exited 0 with failed steps"
grep -q 'ratios: cnnctl --all fp32 *FAIL(rc=3)' "$tmp/out1/summary.txt" || fail "run 1: cnnctl fp32 step not FAIL(rc=3)"
grep -q 'ratios: cnnctl --all tf32 *FAIL(rc=3)' "$tmp/out1/summary.txt" || fail "run 1: cnnctl tf32 step not FAIL(rc=3)"
grep -q 'ratios: cnnctl --all bf16 *FAIL(rc=3)' "$tmp/out1/summary.txt" || fail "run 1: cnnctl bf16 step not FAIL(rc=3)"
grep -q 'ratios: PyTorch *SKIP(no torch cuda)' "$tmp/out1/summary.txt" || fail "run 1: PyTorch not skipped"
grep -q 'ratios: table *SKIP(no results)' "$tmp/out1/summary.txt" || fail "run 1: no-results line missing"
[ ! -e "$tmp/out1/ratios.json" ] || fail "run 1 left a ratios.json without results"

echo "== 2: a stand-in GPU (the CPU): the ratios step end to end"
cat >"$tmp/b2/cnnctl-cuda" <<EOS
#!/usr/bin/env bash
# cnnctl on the CPU in place of the GPU, tiny: --device cuda -> cpu, batch 2, 1 iteration.
args=()
while [ \$# -gt 0 ]; do
	case \$1 in
	--device) args+=(--device cpu); shift ;;
	--batch-size|--iters|--warmup) shift ;;
	*) args+=("\$1") ;;
	esac
	shift
done
exec "$tmp/cnnctl" "\${args[@]}" --batch-size 2 --iters 1 --warmup 0
EOS
cat >"$tmp/python3" <<EOS
#!/usr/bin/env bash
# python3 with torch on the CPU in place of CUDA: the availability check passes,
# torch_cpu_bench.py runs on the CPU, tiny (batch 2, 1 iteration); --tf32 is
# recorded (it needs CUDA) and dropped; --amp and --channels-last are recorded and kept.
if [ "\${1:-}" = -c ]; then exit 0; fi
if [ "\${1:-}" = scripts/torch_cpu_bench.py ]; then
	args=()
	shift
	while [ \$# -gt 0 ]; do
		case \$1 in
		--device) args+=(--device cpu); shift ;;
		--tf32) echo "\$2" >>"$tmp/tf32-calls"; shift ;;
		--amp) echo "amp \$2" >>"$tmp/layout-calls"; args+=(--amp "\$2"); shift ;;
		--channels-last) echo "channels-last" >>"$tmp/layout-calls"; args+=(--channels-last) ;;
		--batch-size|--iters|--warmup) shift ;;
		*) args+=("\$1") ;;
		esac
		shift
	done
	exec "$py" scripts/torch_cpu_bench.py "\${args[@]}" --batch-size 2 --iters 1 --warmup 0
fi
exec "$py" "\$@"
EOS
cat >"$tmp/b2/gpu.test" <<EOS
#!/usr/bin/env bash
echo "\$*" >>"$tmp/gpu-test-calls"
EOS
chmod +x "$tmp/b2/cnnctl-cuda" "$tmp/python3" "$tmp/b2/gpu.test"
# Packed as build packs the executables (gzip -9): run must unpack them.
gzip -9 "$tmp/b2/cnnctl-cuda" "$tmp/b2/gpu.test"
echo test >"$tmp/b2/commit"
GPU_CHECK_BUNDLE=$tmp/b2 OUT=$tmp/out2 PYTHON=$tmp/python3 GPU_CHECK_RATIO_MODELS="lenet resnet20" XDG_CACHE_HOME=$tmp/cache \
	scripts/gpu-check.sh run ratios tests >"$tmp/run2.txt" 2>&1 || {
	cat "$tmp/run2.txt"
	fail "run 2 failed"
}
cat "$tmp/out2/summary.txt"
[ -x "$tmp/b2/gpu.test" ] && [ -x "$tmp/b2/cnnctl-cuda" ] && ! ls "$tmp/b2"/*.gz >/dev/null 2>&1 ||
	fail "run 2 did not unpack the gzipped executables: $(ls "$tmp/b2")"
for s in 'ratios: cnnctl --all fp32' 'ratios: cnnctl --all tf32' 'ratios: cnnctl --all bf16' 'ratios: PyTorch --tf32 off' \
	'ratios: PyTorch --tf32 default' 'ratios: PyTorch --amp bf16' 'ratios: PyTorch --amp bf16 --channels-last' \
	'test TestBackendTF32' 'test TestBackendBF16' 'bench gpu.test BatchNorm'; do
	grep -q "^$s *PASS" "$tmp/out2/summary.txt" || fail "run 2: step '$s' did not pass"
done
[ "$(sort "$tmp/tf32-calls" | tr '\n' ' ')" = "default off " ] || fail "PyTorch ran with --tf32 $(cat "$tmp/tf32-calls"), want off and default"
[ "$(sort "$tmp/layout-calls" | tr '\n' ' ')" = "amp bf16 amp bf16 channels-last " ] ||
	fail "PyTorch's bf16 runs: $(cat "$tmp/layout-calls"), want bf16 autocast in NCHW and channels_last"
grep -q "lenet: --channels-last: .*left out (--keep-going)" "$tmp/out2/gpu-check.log" ||
	fail "lenet (a .view() flatten) was not left out of the channels_last run with a message"
grep -qF -- "-test.run ^TestBackendBF16\$" "$tmp/gpu-test-calls" || fail "gpu.test was not asked for TestBackendBF16: $(cat "$tmp/gpu-test-calls")"
grep -qF -- "-test.run ^TestBackendTF32\$" "$tmp/gpu-test-calls" || fail "gpu.test was not asked for TestBackendTF32: $(cat "$tmp/gpu-test-calls")"
grep -qF -- "-test.bench BatchNorm" "$tmp/gpu-test-calls" || fail "gpu.test was not asked for the BatchNorm benchmark"
grep -qF -- "-test.skip ^(TestBackend|TestBackendTF32|TestBackendBF16|TestModelStep)\$" "$tmp/gpu-test-calls" ||
	fail "the other GPU tests do not skip TestBackendTF32 and TestBackendBF16"
"$py" - "$tmp/out2/ratios.json" <<'PY' || fail "ratios.json"
import json, sys
r = json.load(open(sys.argv[1]))
ms = {m["model"]: m for m in r["models"]}
assert sorted(ms) == ["lenet", "resnet20"], sorted(ms)
for m in ms.values():
    for k in ("fp32_strict", "tf32", "bf16"):
        c, t, q = m[k + "_cnnctl_ms"], m[k + "_torch_ms"], m[k + "_ratio"]
        assert c > 0 and t > 0 and abs(q - c / t) < 1e-9 * q, (m, k)
    assert m["bf16_torch_layout"] in ("nchw", "channels_last"), m
assert ms["lenet"]["bf16_torch_layout"] == "nchw", ms["lenet"]  # left out of the channels_last run
assert r["summary"]["tf32_models"] == 2 and r["summary"]["bf16_models"] == 2 and r["batch"] == [2], r
print("ratios.json: %d models, ratios %s" % (len(ms), ", ".join("%s %.2f/%.2f/%.2f (%s)" % (k, v["fp32_strict_ratio"], v["tf32_ratio"], v["bf16_ratio"], v["bf16_torch_layout"]) for k, v in sorted(ms.items()))))
PY
grep -q '^  lenet ' "$tmp/out2/summary.txt" || fail "run 2: the summary has no ratio row for lenet"
echo "test-gpu-check: ok"
