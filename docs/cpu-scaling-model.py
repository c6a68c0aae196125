#!/usr/bin/python3
"""The core-count model of docs/cpu-scaling.md, from one measured 1-thread profile.

  GOMAXPROCS=1 cnnctl bench --model vgg11-bn --device cpu --json -o vgg11-bn-t1.json
  docs/cpu-scaling-model.py vgg11-bn-t1.json [more.json ...]

For each layer row (forward and backward medians at 1 thread) it takes u, the most pieces
the engine's loops split that layer into at the report's batch (the table "Where the work
splits" in docs/cpu-scaling.md), and predicts T(p) = sum(t / min(p, u)) + serial + fixed:
serial is the loss (one goroutine) and the step's overhead outside the layer rows, the loss
and the update (container copies; 0 when the medians leave it negative); the update splits
over elements; fixed is the filter-gradient sum of the
per-worker partials (each worker reads the convolution weights once, 4 bytes each, at
10 GB/s per core: an assumption, not measured here). Memory bandwidth shared between cores
is not modelled: the result is an upper bound on the speedup.
"""
import json
import math
import sys

CORE_GBPS = 10.0  # per-core streaming bandwidth assumed for the fixed term


def pieces(layer, n):
    typ = layer["type"]
    k, h, w = (int(v) for v in layer["out"].split("x")) if layer["out"].count("x") == 2 else (int(layer["out"]), 1, 1)
    if typ == "conv2d":
        ohw = h * w
        if ohw <= 16:  # per-pixel path (2x2, 4x4): over images, and K for the gather
            return max(n, k)
        nb = max(1, min(n, math.ceil(512 / ohw)))
        groups = math.ceil(n / nb)
        cols, rows = nb * ohw, k  # one group's GEMM: split the longer side into tiles
        tiles = math.ceil(cols / 32) if cols >= rows else math.ceil(rows / 12)
        return max(groups, tiles)
    if typ == "batchnorm":
        return k  # channels
    if typ == "linear":
        return max(math.ceil(k / 32), math.ceil(n / 12))
    return n * k  # elementwise, pools: planes or elements


def model(path, cores=(1, 2, 16, 64)):
    r = json.load(open(path))
    r = r[0] if isinstance(r, list) else r
    n = r["batch"]
    rows = []
    conv_weights = 0
    for l in r["layers"]:
        t = l["forward"]["median_ms"] + (l["backward"]["median_ms"] if l.get("backward") else 0.0)
        rows.append((t, pieces(l, n), l))
        if l["type"] == "conv2d":
            conv_weights += l["params"]
    st = r["step"]
    serial = st["loss_ms"] + max(0.0, st["other_ms"])  # the loss runs on one goroutine
    update = st["update_ms"]
    fixed = conv_weights * 4 / (CORE_GBPS * 1e6)  # ms
    t1 = sum(t for t, _, _ in rows) + serial + update
    out = []
    for p in cores:
        tp = sum(t / min(p, u) for t, u, _ in rows) + serial + update / p + (fixed if p > 1 else 0.0)
        out.append((p, tp, t1 / tp))
    capped = {p: sorted({l["name"] for t, u, l in rows if u < p and t > 0.01 * t1}) for p in cores}
    return r, t1, serial, fixed, out, capped


def main():
    for path in sys.argv[1:]:
        r, t1, serial, fixed, out, capped = model(path)
        print("%s, batch %d, %s: 1-thread step (sum of layers + overhead) %.1f ms, serial %.1f ms (%.1f%%), fixed %.2f ms"
              % (r["model"], r["batch"], r["device"], t1, serial, 100 * serial / t1, fixed))
        for p, tp, s in out:
            print("  %3d cores: %9.2f ms  speedup %5.1f  layers (>1%% of the step) with fewer pieces than cores: %s"
                  % (p, tp, s, ", ".join(capped[p]) or "none"))


if __name__ == "__main__":
    main()
