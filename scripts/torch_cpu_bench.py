#!/usr/bin/python3
"""PyTorch reference for `cnnctl bench`: the same models (scripts/torch_zoo.py), the same
batch, the same JSON schema (docs/bench-schema.md, "cnnctl.bench" version 1).
CPU by default (Debian's python3-torch 1.13); `--device cuda` measures PyTorch + cuDNN on a
GPU (any torch 1.13 or 2.x with CUDA; scripts/gpu-check.sh runs it there).

Run with Debian's python3-torch:

  /usr/bin/python3 scripts/torch_cpu_bench.py --model resnet -o torch-resnet.json
  cnnctl bench --model resnet --device cpu --json -o cnnctl-resnet.json
  cnnctl bench compare torch-resnet.json cnnctl-resnet.json

What is measured, per model (float32, CPU, torch.set_num_threads(--threads), default 2):
  * the training step: zero_grad + forward + CrossEntropyLoss + backward + SGD(momentum 0.9)
    step on one random batch (--batch-size, default 128, of --input, default 3x32x32),
    median of --iters (default 10, at least 10 is advised) after --warmup steps;
  * inference: model.eval() forward under torch.no_grad(), median of --iters;
  * per layer: forward hooks on every leaf module time each call in a separate hooked run
    of the training step (so the hooks do not slow the step above). Backward is not timed
    per layer (PyTorch 1.13 has no backward pre-hooks and inplace ReLUs break full backward
    hooks), so each row's "backward" is null and the step's overhead includes the whole
    backward. Functional ops (F.relu, F.max_pool2d in LeNet) are not modules and get no row.
FLOPs and bytes follow cnnctl's cost model (docs/bench-schema.md). "peaks" is null.
The torch build and threading config go into "device_detail".

On a GPU (--device cuda): model, batch and labels live on the GPU, cudnn.benchmark is on,
each timed iteration is torch.cuda.synchronize(); t0; step; torch.cuda.synchronize(), and
the median is taken as above. --amp bf16 wraps forward + loss in
torch.autocast(device_type="cuda", dtype=torch.bfloat16) (weights, gradients and the SGD
step stay float32; bf16 needs no GradScaler). --channels-last converts model and input to
torch.channels_last (NHWC). --tf32 on|off sets torch.backends.cudnn.allow_tf32 and
torch.backends.cuda.matmul.allow_tf32; "default" leaves PyTorch's defaults (cuDNN
convolutions may use TF32 tensor cores, matmuls do not), and the flags in force are
written into "device" and "device_detail" with the torch, CUDA, cuDNN and driver versions.
Per-layer rows on the GPU synchronize around every leaf module (slow, and forward only as
on the CPU); use --no-layers for the step alone. If torch has no CUDA or sees no GPU,
--device cuda exits with status 2 and says so.
"""

import argparse
import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402

SCHEMA, SCHEMA_VERSION = "cnnctl.bench", 1

TYPES = {
    nn.Conv2d: "conv2d", nn.Linear: "linear", nn.ReLU: "relu", nn.Sigmoid: "sigmoid",
    nn.Tanh: "tanh", nn.MaxPool2d: "maxpool2d", nn.AvgPool2d: "avgpool2d",
    nn.BatchNorm2d: "batchnorm", nn.BatchNorm1d: "batchnorm", nn.Dropout: "dropout",
    nn.Flatten: "flatten", nn.AdaptiveAvgPool2d: "globalavgpool",
}


def quantiles(ms):
    """Median, p10 and p90 as cnnctl computes them (nearest rank at q*(n-1))."""
    s = sorted(ms)
    n = len(s)
    if n == 0:
        return 0.0, 0.0, 0.0
    q = lambda p: s[int(p * (n - 1) + 0.5)]
    return statistics.median(s), q(0.1), q(0.9)


def layer_type(mod):
    for cls, name in TYPES.items():
        if isinstance(mod, cls):
            return name
    return type(mod).__name__.lower()


def window(v):
    return v if isinstance(v, int) else v[0] * v[1] if len(v) == 2 else v[0]


def cost(typ, mod, n, in_el, out_el, params, macs, train):
    """FLOPs and bytes of one forward over the batch, cnnctl's cost model."""
    i, o = n * in_el, n * out_el
    flops = {
        "conv2d": 2 * macs * n, "linear": 2 * macs * n, "relu": o, "sigmoid": 4 * o,
        "tanh": 4 * o, "globalavgpool": i, "dropout": 2 * o,
        "batchnorm": (7 if train else 4) * i, "flatten": 0,
    }.get(typ, 0)
    if typ in ("maxpool2d", "avgpool2d"):
        k = mod.kernel_size
        flops = (k * k if isinstance(k, int) else k[0] * k[1]) * o
    nbytes = 0 if typ == "flatten" else 4 * (i + params + o)
    return flops, nbytes


def step_fn(model, x, y, opt, loss_fn, args):
    def step():
        opt.zero_grad(set_to_none=True)
        with amp_ctx(args):
            loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def sync_fn(dev):
    """A function that waits for the device's queued work (a no-op on the CPU)."""
    if dev.type == "cuda":
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None


SYNC = lambda: None  # set by bench() for its device


def timed(fn, k):
    out = []
    for _ in range(k):
        SYNC()
        t0 = time.perf_counter()
        fn()
        SYNC()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def amp_ctx(args):
    """The autocast context for forward + loss (a no-op context without --amp)."""
    if args.amp == "bf16":
        return torch.autocast(device_type=args.device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cuda_versions(dev):
    """torch, CUDA, cuDNN, card and driver, for "device" and "device_detail"."""
    v = {"torch": torch.__version__, "cuda": torch.version.cuda or "?",
         "card": torch.cuda.get_device_name(dev), "driver": "?", "cudnn": "?"}
    cv = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    if cv:  # 8902 in cuDNN 8 (major*1000 + minor*100 + patch), 91002 in cuDNN 9 (major*10000 + minor*100 + patch)
        big = cv >= 10000
        v["cudnn"] = "%d.%d.%d" % (cv // (10000 if big else 1000), cv // 100 % (100 if big else 10), cv % 100)
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader",
                              "-i", str(dev.index or 0)], capture_output=True, text=True, timeout=20)
        if out.returncode == 0 and out.stdout.strip():
            v["driver"] = out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def bench(name, args):
    global SYNC
    c, h, w = (int(v) for v in args.input.split("x"))
    torch.manual_seed(args.seed)
    model = torch_zoo.build(name, c, h, args.classes)
    n = args.batch_size
    x = torch.randn(n, c, h, w)
    y = torch.randint(0, args.classes, (n,))
    dev = torch.device(args.device)
    if args.channels_last:
        model = model.to(dev, memory_format=torch.channels_last)
        x = x.to(dev).contiguous(memory_format=torch.channels_last)
    else:
        model, x = model.to(dev), x.to(dev)
    y = y.to(dev)
    SYNC = sync_fn(dev)
    loss_fn = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    train = args.mode == "train"
    step = step_fn(model, x, y, opt, loss_fn, args)

    def infer():
        model.eval()
        with torch.no_grad(), amp_ctx(args):
            model(x)
        model.train()

    main = step if train else infer
    timed(main, args.warmup)
    step_ms = timed(main, args.iters)
    if train:
        timed(infer, args.warmup)  # eval mode and no_grad take other oneDNN paths: warm them too
        infer_ms = timed(infer, args.iters)
    else:
        infer_ms = step_ms

    # Per-layer forward times: hooks on leaf modules, a separate run.
    names = {m: k for k, m in model.named_modules()}
    leaves = [m for m in model.modules() if len(list(m.children())) == 0]
    rows, order, calls, starts = {}, [], {}, {}

    def pre(mod, inp):
        SYNC()
        starts[mod] = time.perf_counter()

    def post(mod, inp, out):
        SYNC()
        dt = (time.perf_counter() - starts.pop(mod)) * 1e3
        calls[mod] = calls.get(mod, 0) + 1
        label = names[mod] if calls[mod] == 1 else "%s#%d" % (names[mod], calls[mod])
        if label not in rows:
            in_el = inp[0][0].numel()
            out_el = out[0].numel()
            params = sum(p.numel() for p in mod.parameters(recurse=False))
            macs = 0
            if isinstance(mod, nn.Conv2d):
                macs = out_el * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
            elif isinstance(mod, nn.Linear):
                macs = mod.in_features * mod.out_features
            typ = layer_type(mod)
            rows[label] = {
                "name": label, "type": typ,
                "in": "x".join(str(d) for d in inp[0].shape[1:]),
                "out": "x".join(str(d) for d in out.shape[1:]),
                "params": params, "macs": macs, "times": [],
                "cost": cost(typ, mod, n, in_el, out_el, params, macs, mod.training),
            }
            order.append(label)
        rows[label]["cur"] = rows[label].get("cur", 0.0) + dt

    handles = [m.register_forward_pre_hook(pre) for m in leaves]
    handles += [m.register_forward_hook(post) for m in leaves]
    loss_ms, update_ms = [], []
    for _ in range(0 if args.no_layers else args.iters):
        calls.clear()
        if train:
            opt.zero_grad(set_to_none=True)
            with amp_ctx(args):
                logits = model(x)
                SYNC()
                t0 = time.perf_counter()
                loss = loss_fn(logits, y)
                SYNC()
                loss_ms.append((time.perf_counter() - t0) * 1e3)
            loss.backward()
            SYNC()
            t0 = time.perf_counter()
            opt.step()
            SYNC()
            update_ms.append((time.perf_counter() - t0) * 1e3)
        else:
            infer()
        for r in rows.values():
            r["times"].append(r.pop("cur", 0.0))
    for hd in handles:
        hd.remove()

    med, p10, p90 = quantiles(step_ms)
    layers = []
    for label in order:
        r = rows[label]
        fm, f10, f90 = quantiles(r["times"])
        flops, nbytes = r["cost"]
        layers.append({
            "name": r["name"], "type": r["type"], "in": r["in"], "out": r["out"],
            "params": r["params"], "macs": r["macs"],
            "forward": {
                "median_ms": fm, "p10_ms": f10, "p90_ms": f90, "flops": flops, "bytes": nbytes,
                "gflops": flops / (fm * 1e6) if fm > 0 else 0.0,
                "gbps": nbytes / (fm * 1e6) if fm > 0 else 0.0,
                "pct_peak_flops": 0.0, "pct_peak_bw": 0.0, "pct_roofline": 0.0,
            },
            "backward": None, "total_ms": fm, "share": fm / med if med > 0 else 0.0,
        })
    lsum = sum(l["total_ms"] for l in layers)
    lossm = quantiles(loss_ms)[0]
    updm = quantiles(update_ms)[0]
    imed = quantiles(infer_ms)[0]
    threads = torch.get_num_threads()
    detail = "torch %s; %s%s" % (
        torch.__version__, torch.__config__.parallel_info().strip(),
        "\n" + torch.__config__.show().strip())
    device = "cpu (torch, %d threads)" % threads
    timing = "time.perf_counter"
    if dev.type == "cuda":
        v = cuda_versions(dev)
        tf32 = torch.backends.cudnn.allow_tf32
        prec = "bf16 AMP" if args.amp == "bf16" else ("fp32, cuDNN TF32 " + ("on" if tf32 else "off"))
        device = "cuda (torch %s, cuDNN %s, %s, %s%s)" % (
            v["torch"], v["cudnn"], v["card"], prec, ", channels_last" if args.channels_last else "")
        timing = "time.perf_counter between torch.cuda.synchronize() calls"
        detail = ("torch %s; CUDA runtime %s; cuDNN %s; driver %s; %s (capability %d.%d); "
                  "cudnn.benchmark %s; cudnn.allow_tf32 %s; cuda.matmul.allow_tf32 %s; amp %s; "
                  "memory format %s\n" % (
                      v["torch"], v["cuda"], v["cudnn"], v["driver"], v["card"],
                      *torch.cuda.get_device_capability(dev), torch.backends.cudnn.benchmark,
                      tf32, torch.backends.cuda.matmul.allow_tf32, args.amp,
                      "channels_last" if args.channels_last else "contiguous")) + detail
    elif args.amp != "none" or args.channels_last:
        device = "cpu (torch, %d threads%s%s)" % (
            threads, ", bf16 AMP" if args.amp == "bf16" else "",
            ", channels_last" if args.channels_last else "")
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS") if k in os.environ}
    if env:
        detail += "\nenvironment: " + json.dumps(env, sort_keys=True)
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "tool": "pytorch",
        "version": torch.__version__, "commit": "",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "model": name, "device": device, "device_detail": detail,
        "batch": n, "input": args.input, "mode": args.mode, "iters": args.iters, "warmup": args.warmup,
        "timing": timing + "; per-layer rows: forward hooks on leaf modules in a separate run, forward only",
        "layers": layers,
        "step": {
            "what": "forward+loss+backward+sgd" if train else "forward",
            "median_ms": med, "p10_ms": p10, "p90_ms": p90,
            "layers_sum_ms": lsum, "overhead_ms": med - lsum,
            "loss_ms": lossm if train else 0.0, "update_ms": updm if train else 0.0,
            "other_ms": (med - lsum) - (lossm + updm if train else 0.0),
            "note": ("overhead = step median - sum of layer forward medians: the whole backward "
                     "(not timed per layer), zero_grad, the loss and the SGD step, functional ops "
                     "(F.relu, F.max_pool2d, residual adds) and the Python between modules")
            if layers else "step only: no per-layer run",
        },
        "throughput": {
            "train_images_per_s": n / (med / 1e3) if train and med > 0 else 0.0,
            "infer_images_per_s": n / (imed / 1e3) if imed > 0 else 0.0,
            "infer_ms": imed,
        },
        "peaks": None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", help="zoo model (repeatable); default lenet")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--input", default="3x32x32")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", choices=("train", "infer"), default="train")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-layers", action="store_true", help="step and throughput only, layers []")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="default cpu")
    ap.add_argument("--amp", choices=("none", "bf16"), default="none",
                    help="bf16: torch.autocast around forward + loss (default none: float32)")
    ap.add_argument("--channels-last", action="store_true", help="model and input in torch.channels_last")
    ap.add_argument("--keep-going", action="store_true",
                    help="with --channels-last, leave out (with a message) a model whose forward cannot run in "
                         "channels_last instead of ending the run; fails only when no model ran")
    ap.add_argument("--tf32", choices=("default", "on", "off"), default="default",
                    help="cuda: cudnn and matmul allow_tf32 (default: leave PyTorch's defaults)")
    ap.add_argument("-o", "--output", help="write JSON here (one model: an object; several: a list)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch %s is built without CUDA" % torch.__version__ if torch.version.cuda is None
                   else "torch %s (CUDA %s) sees no GPU" % (torch.__version__, torch.version.cuda))
            print("torch_cpu_bench.py: --device cuda: torch.cuda.is_available() is False: %s" % why, file=sys.stderr)
            sys.exit(2)
        torch.backends.cudnn.benchmark = True
        if args.tf32 != "default":
            torch.backends.cudnn.allow_tf32 = args.tf32 == "on"
            torch.backends.cuda.matmul.allow_tf32 = args.tf32 == "on"
    models = args.model or ["lenet"]
    reports = []
    for name in models:
        what = "%d threads" % args.threads if args.device == "cpu" else "cuda"
        if args.amp != "none":
            what += ", %s AMP" % args.amp
        if args.channels_last:
            what += ", channels_last"
        print("torch bench %s: batch %d, %s, %s" % (name, args.batch_size, args.mode, what), file=sys.stderr)
        try:
            reports.append(bench(name, args))
        except RuntimeError as e:
            if args.channels_last and "view size is not compatible" in str(e):
                print("torch_cpu_bench.py: %s: --channels-last: its forward flattens with .view() over a "
                      "spatial size above 1x1, which NHWC strides do not allow (%s)%s" %
                      (name, e, "; left out (--keep-going)" if args.keep_going else ""), file=sys.stderr)
                if args.keep_going:
                    continue
                sys.exit(2)
            raise
    if not reports:
        print("torch_cpu_bench.py: no model ran", file=sys.stderr)
        sys.exit(2)
    out = reports[0] if len(reports) == 1 else reports
    text = json.dumps(out, indent=2) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
