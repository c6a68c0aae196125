#!/usr/bin/env python3
"""cnnctl / PyTorch train-step ratios per zoo model, two pairings (issue 15):

  fp32 strict   cnnctl --precision fp32  vs  PyTorch with TF32 off (--tf32 off)
  tf32          cnnctl --precision tf32  vs  PyTorch's defaults (cuDNN may use TF32)

Reads, from DIR, the bench-schema JSON that scripts/gpu-check.sh writes there:
cnnctl-fp32.json and cnnctl-tf32.json (`cnnctl bench --all --json`, arrays) and
torch-tf32-off.json and torch-default.json (scripts/torch_cpu_bench.py, a list, or
one object for one model). A missing file or model shows as '-'. Prints one table
(a ratio below 1 means cnnctl is faster) with the issue's targets, and writes
-o FILE as JSON. Standard library only: runs wherever gpu-check.sh does.
"""
import argparse
import json
import math
import os
import sys

PAIRS = (
    # (key, cnnctl file, PyTorch file, words)
    ("fp32_strict", "cnnctl-fp32.json", "torch-tf32-off.json", "fp32 strict vs PyTorch TF32 off"),
    ("tf32", "cnnctl-tf32.json", "torch-default.json", "tf32 vs PyTorch defaults"),
)


def target(pair, model):
    """The issue's target ratio (cnnctl/PyTorch at most this), or None."""
    big = model.startswith("vgg") or model in ("googlenet", "nin")
    if pair == "tf32":  # the GPU's default precision once it flips to tf32
        return 0.7 if big else 1.0
    return 1.0 if model.startswith("vgg") else None


def step_ms(path):
    """model -> (train-step median ms, batch) of one bench-schema file; {} if absent or unreadable."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        print("gpu_ratios.py: %s: %s" % (path, e), file=sys.stderr)
        return {}
    out = {}
    for r in data if isinstance(data, list) else [data]:
        ms = r.get("step", {}).get("median_ms", 0)
        if r.get("mode") == "train" and ms > 0:
            out[r["model"]] = (ms, r.get("batch"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="folder with cnnctl-fp32.json, cnnctl-tf32.json, torch-tf32-off.json, torch-default.json")
    ap.add_argument("-o", "--output", help="write the numbers as JSON here")
    args = ap.parse_args()

    runs = {}
    for key, ours, theirs, _ in PAIRS:
        runs[key] = (step_ms(os.path.join(args.dir, ours)), step_ms(os.path.join(args.dir, theirs)))
    models = sorted({m for a, b in runs.values() for m in list(a) + list(b)})
    if not models:
        print("no results: none of cnnctl-fp32.json, cnnctl-tf32.json, torch-tf32-off.json, torch-default.json in %s" % args.dir)
        return 1

    rows, logs = [], {key: [] for key, *_ in PAIRS}
    head = "%-10s" % "model"
    for key, _, _, words in PAIRS:
        head += "  | %-36s" % words
    lines = [head, "%-10s" % "" + "  | %9s %9s %7s %-8s" % ("cnnctl ms", "torch ms", "ratio", "target") * len(PAIRS)]
    for m in models:
        row, line = {"model": m}, "%-10s" % m
        for key, *_ in PAIRS:
            ours, theirs = runs[key]
            c = ours.get(m, (None, None))[0]
            t = theirs.get(m, (None, None))[0]
            ratio = c / t if c and t else None
            tg = target(key, m)
            verdict = ""
            if tg is not None:
                verdict = "<=%.1f" % tg
                if ratio is not None:
                    verdict += " ok" if ratio <= tg else " miss"
            row.update({key + "_cnnctl_ms": c, key + "_torch_ms": t, key + "_ratio": ratio, key + "_target": tg})
            if ratio:
                logs[key].append(math.log(ratio))
            fmt = lambda v, spec: spec % v if v is not None else "%*s" % (int(spec[1:spec.index(".")]), "-")
            line += "  | %s %s %s %-8s" % (fmt(c, "%9.2f"), fmt(t, "%9.2f"), fmt(ratio, "%6.2fx").rjust(7) if ratio else "%7s" % "-", verdict)
        rows.append(row)
        lines.append(line)
    geo = "%-10s" % "geomean"
    summary = {}
    for key, *_ in PAIRS:
        g = math.exp(sum(logs[key]) / len(logs[key])) if logs[key] else None
        summary[key + "_geomean"] = g
        summary[key + "_models"] = len(logs[key])
        geo += "  | %9s %9s %7s %-8s" % ("", "", ("%6.2fx" % g) if g else "-", "")
    lines.append(geo)
    print("train step, cnnctl / PyTorch (below 1: cnnctl faster)")
    print("\n".join(l.rstrip() for l in lines))
    if args.output:
        batches = {b for a, t in runs.values() for d in (a, t) for _, b in d.values()}
        with open(args.output, "w") as f:
            json.dump({"what": "train-step medians, cnnctl / PyTorch", "batch": sorted(b for b in batches if b),
                       "pairs": {key: words for key, _, _, words in PAIRS}, "models": rows, "summary": summary}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
