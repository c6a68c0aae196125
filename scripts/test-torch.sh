#!/usr/bin/env bash
# test-torch.sh proves cnnctl computes what PyTorch computes (make test-torch, CI).
#
#  1. scripts/torch_fixtures.py writes seeded weights, inputs and PyTorch's outputs
#     for all 17 zoo models into a temporary folder;
#  2. the Go tests of internal/torchcheck (eval logits of every model, one SGD step of
#     lenet, resnet, vgg11-bn) and internal/safetensors (byte-identical re-encoding)
#     run on them, and fail if any of them skips;
#  3. cnnctl → PyTorch: a checkpoint trained by cnnctl is exported and loaded into
#     the PyTorch model with load_state_dict(strict=True) (torch_roundtrip.py); its
#     logits on PNG images must equal cnnctl predict's;
#  4. PyTorch → cnnctl: fixture weights are imported and cnnctl predict's logits on
#     the same PNGs must equal the tutorial's PyTorch pipeline (pixels/255, then
#     mean 0.5, std 0.5).
# Logits agree when max|Δ| ≤ 1e-4 · max(1, max|logit|).
#
# Needs Go and Debian's python3-torch at /usr/bin/python3 (scripts/README-torch.md);
# without torch it fails, it does not skip. CNNCTL_TORCH_KEEP=1 keeps the folder;
# CNNCTL_TORCH_PYTHON names another interpreter.
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${CNNCTL_TORCH_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch, numpy' 2>/dev/null; then
	echo "test-torch: $PY cannot import torch and numpy; install them with" >&2
	echo "  apt-get install -y --no-install-recommends python3-torch python3-numpy" >&2
	exit 1
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnnctl-torch.XXXXXX")
if [ "${CNNCTL_TORCH_KEEP:-}" = 1 ]; then
	echo "test-torch: keeping $TMP"
else
	trap 'rm -rf "$TMP"' EXIT
fi
FX=$TMP/fixtures
t0=$SECONDS
step() { echo "== test-torch [$((SECONDS - t0))s] $*"; }
# quiet runs a command with its stderr shown only if it fails.
quiet() { "$@" 2>"$TMP/stderr" || { cat "$TMP/stderr" >&2; return 1; }; }

step "fixtures: $($PY -c 'import torch; print("torch", torch.__version__)')"
"$PY" scripts/torch_fixtures.py "$FX"

step "go tests against the fixtures"
export CNNCTL_TORCH_FIXTURES=$FX
go test -count=1 -v -run '^(TestEvalLogits|TestTrainStep)$' ./internal/torchcheck \
	>"$TMP/torchcheck.log" 2>&1 || { cat "$TMP/torchcheck.log"; exit 1; }
go test -count=1 -v -run '^TestTorchFixtures$' ./internal/safetensors >>"$TMP/torchcheck.log" 2>&1 ||
	{ cat "$TMP/torchcheck.log"; exit 1; }
grep -E 'logits vs torch|loss|gradients|updated state' "$TMP/torchcheck.log" | sed 's/^ *torch_test.go:[0-9]*: /  /'
if grep -q -- '--- SKIP' "$TMP/torchcheck.log" || ! grep -q -- '--- PASS: TestTorchFixtures' "$TMP/torchcheck.log"; then
	cat "$TMP/torchcheck.log"
	echo "test-torch: a test was skipped or did not run" >&2
	exit 1
fi

step "build cnnctl"
go build -o "$TMP/cnnctl" ./cmd/cnnctl
CNNCTL=$TMP/cnnctl

# Seeded 32x32 RGB PNGs (filters 0 and 1), the images both sides classify.
"$PY" - "$TMP" <<'PYEOF'
import random, struct, sys, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
rng = random.Random(7)
for n in range(3):
    rows = b""
    for y in range(32):
        line = bytes(rng.randrange(256) for _ in range(96))
        if y % 2:  # filter 1 (Sub): store differences to the pixel on the left
            line = bytes(line[:3]) + bytes((line[i] - line[i - 3]) & 255 for i in range(3, 96))
        rows += bytes([y % 2]) + line
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 32, 32, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    open("%s/img%d.png" % (sys.argv[1], n), "wb").write(png)
PYEOF
IMGS=("$TMP"/img0.png "$TMP"/img1.png "$TMP"/img2.png)

# same_logits WHAT CNNCTL_JSON TORCH_JSON: cnnctl predict --json against torch_roundtrip.py.
same_logits() {
	"$PY" - "$@" <<'PYEOF'
import json, sys
what, ours, theirs = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))["predictions"]
if len(ours) != len(theirs):
    sys.exit("%s: %d predictions from cnnctl, %d from PyTorch" % (what, len(ours), len(theirs)))
worst = 0.0
for a, b in zip(ours, theirs):
    x, y = a["logits"], b["logits"]
    scale = max([1.0] + [abs(v) for v in y])
    d = max(abs(p - q) for p, q in zip(x, y)) / scale
    worst = max(worst, d)
    if len(x) != len(y) or d > 1e-4:
        sys.exit("%s: %s: cnnctl logits %s, PyTorch %s (relative max|Δ| %.3g > 1e-4)" % (what, a["path"], x, y, d))
print("  %-34s %d images, relative max|Δ| %.3g" % (what, len(ours), worst))
PYEOF
}

for model in lenet lenet-bn; do
	step "cnnctl → PyTorch: train $model 1 epoch, export, load_state_dict(strict=True), predict"
	"$CNNCTL" train --model "$model" --data synthetic --epochs 1 --out "$TMP/run-$model" --quiet >"$TMP/train-$model.log" 2>&1 ||
		{ cat "$TMP/train-$model.log"; exit 1; }
	"$CNNCTL" export "$TMP/run-$model/best" -o "$TMP/$model.safetensors"
	quiet "$CNNCTL" predict --device cpu --json "$TMP/run-$model/best" "${IMGS[@]}" >"$TMP/$model.cnnctl.json"
	"$PY" scripts/torch_roundtrip.py "$TMP/$model.safetensors" "$model" "${IMGS[@]}" >"$TMP/$model.torch.json"
	same_logits "export $model (trained)" "$TMP/$model.cnnctl.json" "$TMP/$model.torch.json"
done

for model in lenet resnet vgg11-bn; do
	step "PyTorch → cnnctl: import $model fixture weights, predict vs the tutorial's pipeline"
	"$CNNCTL" import --model "$model" "$FX/$model.weights.safetensors" -o "$TMP/$model.imported"
	quiet "$CNNCTL" predict --device cpu --json "$TMP/$model.imported" "${IMGS[@]}" >"$TMP/$model.imp.json"
	"$PY" scripts/torch_roundtrip.py "$FX/$model.weights.safetensors" "$model" "${IMGS[@]}" \
		--mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 >"$TMP/$model.tut.json"
	same_logits "import $model" "$TMP/$model.imp.json" "$TMP/$model.tut.json"
done

step "passed"
