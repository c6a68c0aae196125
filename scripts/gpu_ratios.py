#!/usr/bin/env python3
"""cnnctl / PyTorch train-step ratios per zoo model, three pairings (issue 15):

  fp32 strict   cnnctl --precision fp32  vs  PyTorch with TF32 off (--tf32 off)
  tf32          cnnctl --precision tf32  vs  PyTorch's defaults (cuDNN may use TF32)
  bf16          cnnctl --precision bf16  vs  PyTorch bf16 autocast (--amp bf16), NCHW or
                channels_last (--channels-last), whichever PyTorch ran faster for the model

Reads, from DIR, the bench-schema JSON that scripts/gpu-check.sh writes there:
cnnctl-fp32.json, cnnctl-tf32.json and cnnctl-bf16.json (`cnnctl bench --all --json`,
arrays) and torch-tf32-off.json, torch-default.json, torch-bf16.json and
torch-bf16-cl.json (scripts/torch_cpu_bench.py, a list, or one object for one model).
A missing file or model shows as '-'. Prints one table (a ratio below 1 means cnnctl
is faster) with the issue's targets, and writes -o FILE as JSON (the bf16 pairing
also names the PyTorch layout it took: bf16_torch_layout). Standard library only:
runs wherever gpu-check.sh does.
"""
import argparse
import json
import math
import os
import sys

PAIRS = (
    # (key, cnnctl file, PyTorch files by layout (the faster per model is taken), words)
    ("fp32_strict", "cnnctl-fp32.json", {"nchw": "torch-tf32-off.json"}, "fp32 strict vs PyTorch TF32 off"),
    ("tf32", "cnnctl-tf32.json", {"nchw": "torch-default.json"}, "tf32 vs PyTorch defaults"),
    ("bf16", "cnnctl-bf16.json", {"nchw": "torch-bf16.json", "channels_last": "torch-bf16-cl.json"},
     "bf16 vs PyTorch bf16 autocast"),
)


def target(pair, model):
    """The issue's target ratio (cnnctl/PyTorch at most this), or None."""
    big = model.startswith("vgg") or model in ("googlenet", "nin")
    if pair == "tf32":  # the GPU's default precision once it flips to tf32
        return 0.7 if big else 1.0
    if pair == "bf16":  # the issue sets no step target for bf16 (its vgg16-bn layers: >= 300 TFLOP/s)
        return None
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


def fastest(dir, files):
    """model -> (train-step median ms, batch, layout): per model the fastest of files (layout -> name)."""
    out = {}
    for layout, name in files.items():
        for m, (ms, batch) in step_ms(os.path.join(dir, name)).items():
            if m not in out or ms < out[m][0]:
                out[m] = (ms, batch, layout)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", help="folder with cnnctl-{fp32,tf32,bf16}.json, torch-{tf32-off,default,bf16,bf16-cl}.json")
    ap.add_argument("-o", "--output", help="write the numbers as JSON here")
    args = ap.parse_args()

    runs = {}
    for key, ours, theirs, _ in PAIRS:
        runs[key] = (step_ms(os.path.join(args.dir, ours)), fastest(args.dir, theirs))
    models = sorted({m for a, b in runs.values() for m in list(a) + list(b)})
    if not models:
        names = [ours for _, ours, _, _ in PAIRS] + [f for _, _, theirs, _ in PAIRS for f in theirs.values()]
        print("no results: none of %s in %s" % (", ".join(names), args.dir))
        return 1

    rows, logs = [], {key: [] for key, *_ in PAIRS}
    head = "%-10s" % "model"
    for key, _, _, words in PAIRS:
        head += "  | %-36s" % words
    lines = [head, "%-10s" % "" + "  | %9s %9s %7s %-8s" % ("cnnctl ms", "torch ms", "ratio", "target") * len(PAIRS)]
    for m in models:
        row, line = {"model": m}, "%-10s" % m
        for key, _, files, _ in PAIRS:
            ours, theirs = runs[key]
            c = ours.get(m, (None, None))[0]
            t, layout = theirs.get(m, (None, None, None))[0::2]
            ratio = c / t if c and t else None
            tg = target(key, m)
            verdict = ""
            if tg is not None:
                verdict = "<=%.1f" % tg
                if ratio is not None:
                    verdict += " ok" if ratio <= tg else " miss"
            row.update({key + "_cnnctl_ms": c, key + "_torch_ms": t, key + "_ratio": ratio, key + "_target": tg})
            if len(files) > 1:  # the PyTorch layout taken; "cl" in the table for channels_last
                row[key + "_torch_layout"] = layout
                verdict = verdict or ("cl" if layout == "channels_last" else "")
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
    print("train step, cnnctl / PyTorch (below 1: cnnctl faster; cl: PyTorch's channels_last run was its faster)")
    print("\n".join(l.rstrip() for l in lines))
    if args.output:
        batches = {v[1] for a, t in runs.values() for d in (a, t) for v in d.values()}
        with open(args.output, "w") as f:
            json.dump({"what": "train-step medians, cnnctl / PyTorch", "batch": sorted(b for b in batches if b),
                       "pairs": {key: words for key, _, _, words in PAIRS}, "models": rows, "summary": summary}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
