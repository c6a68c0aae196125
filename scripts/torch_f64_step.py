#!/usr/bin/python3
"""Compute the float64 referee of one training step of cnnctl's zoo models.

    /usr/bin/python3 scripts/torch_f64_step.py DIR [--models lenet resnet ...]

The judge of TestModelStep (internal/gpu: the GPU and CPU engines) and TestModelStepF64
(internal/torchcheck: the CPU engines, in CI): each float32 engine is measured by its
distance to this reference. The Go side (torchcheck.PrepareF64) writes the inputs and
runs this script; nothing here is committed. It reads

DIR/batch.safetensors          input (N,3,32,32) and labels (N,) as F32: TestModelStep's batch
DIR/NAME.weights.safetensors   the model's state_dict as zoo.Build(seed 1) initialises it

and writes, for every NAME given (default: every NAME.weights.safetensors in DIR),

DIR/NAME.f64step.safetensors
    loss     ()      mean cross-entropy with label smoothing 0.1
    logits   (N,10)  train-mode logits
    grad.<p>         d loss / d p for every parameter (named_parameters order)
    updated.<b>      every BatchNorm running_mean / running_var after the forward
    err32.<p>  (1,)  max|g - g64| of the same step in PyTorch float32: a third float32
                     engine's error per gradient, the yardstick (with cnnctl's two CPU
                     engines) that the Go side judges an engine by

all computed in float64 from the F32 weights and batch (model.double()) and rounded once
to F32 for storage: the nearest float32 to the float64 result, so a float32 engine's
distance to it measures that engine's own rounding error (rounding the reference adds at
most 2^-24 of each value, far below the test's floor).

The step is cnnctl's (torchcheck.RunStep): train-mode forward, BatchNorm on batch
statistics (momentum 0.1, unbiased running variance), softmax cross-entropy with label
smoothing 0.1 (target (1-e)*onehot + e/K), backward. Dropout draws cnnctl's masks, not
PyTorch's: element i of layer L keeps its value, scaled by 1/(1-p) in float32, iff the
Philox4x32-10 uniform u(seed_L, 0, i) >= p, seed_L = splitmix64(1 ^ fnv64a(L)) — the
recipe of internal/cpu/philox.go and internal/layers/dropout.go for a model built from
seed 1, at step 0. Updated weights are not stored: SGD's first step is exact arithmetic
on these gradients (w - lr*(g + wd*w)), which the Go side evaluates in float64.
"""

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402

SMOOTHING = 0.1
BUILD_SEED = 1  # zoo.Build's seed in the Go tests: it seeds the dropout masks
M32 = np.uint64(0xFFFFFFFF)


def fnv64a(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def splitmix(z):
    mask = 0xFFFFFFFFFFFFFFFF
    z = (z + 0x9E3779B97F4A7C15) & mask
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)


def philox_uniform(seed, counter, n):
    """float32 uniforms u_i, i < n, of internal/cpu/philox.go's recipe."""
    i = np.arange(n, dtype=np.uint64)
    c = [i & M32, i >> np.uint64(32),
         np.full(n, counter & 0xFFFFFFFF, np.uint64), np.full(n, counter >> 32, np.uint64)]
    k0, k1 = seed & 0xFFFFFFFF, seed >> 32
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & M32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & M32]
    return (c[0] >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)


class PhiloxDropout(nn.Module):
    """cnnctl's dropout at step 0 of a model built from BUILD_SEED."""

    def __init__(self, name, p):
        super().__init__()
        self.name, self.p = name, p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        p = np.float32(self.p)
        u = philox_uniform(splitmix(BUILD_SEED ^ fnv64a(self.name)), 0, x.numel())
        scale = np.float32(1) / (np.float32(1) - p)
        mask = np.where(u >= p, scale, np.float32(0)).astype(np.float64)
        return x * torch.from_numpy(mask).to(x.dtype).reshape(x.shape)


def use_philox_dropout(model):
    for name, m in list(model.named_modules()):
        if isinstance(m, nn.Dropout):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, PhiloxDropout(name, m.p))


def step(name, sd, x, labels, dtype):
    """One training step of model name in dtype: (model, logits, loss)."""
    m = torch_zoo.build(name).to(dtype)
    m.load_state_dict({k: v.to(dtype) for k, v in sd.items()}, strict=True)
    use_philox_dropout(m)
    m.train()
    out = m(x.to(dtype))
    loss = F.cross_entropy(out, labels.long(), label_smoothing=SMOOTHING)
    loss.backward()
    return m, out, loss


def errors_f32(m32, m64):
    """PyTorch float32's max|g32 - g64| per parameter: a third float32 engine's
    error, the yardstick the Go side judges its engines with."""
    g64 = dict(m64.named_parameters())
    return [("err32." + k, (p.grad.double() - g64[k].grad).abs().max().float().reshape(1))
            for k, p in m32.named_parameters()]


def worst_f32(m32, m64):
    """PyTorch float32's worst gradient error against float64, each tensor's
    max|g32 - g64| over its own max|g64| (the Go side's measure), leaving out
    gradients that are zero in exact arithmetic (a bias before BatchNorm:
    float64 leaves ~1e-17 there, below 1e-9 of the largest gradient)."""
    worst, at = 0.0, ""
    g64 = dict(m64.named_parameters())
    top = max(p.grad.abs().max().item() for p in m64.parameters())
    for k, p in m32.named_parameters():
        ref = g64[k].grad
        scale = ref.abs().max().item()
        if scale <= 1e-9 * top:
            continue
        e = (p.grad.double() - ref).abs().max().item() / scale
        if e > worst:
            worst, at = e, k
    return worst, at


def make(name, d, x, labels):
    sd, _ = torch_zoo.load_safetensors(os.path.join(d, name + ".weights.safetensors"))
    m64, out, loss = step(name, sd, x, labels, torch.float64)
    m32, _, _ = step(name, sd, x, labels, torch.float32)
    w, at = worst_f32(m32, m64)
    note = "  (PyTorch float32: worst gradient %.3g, %s)" % (w, at)
    f32 = lambda t: t.detach().float()  # noqa: E731
    tensors = [("loss", f32(loss)), ("logits", f32(out))]
    tensors += [("grad." + k, f32(p.grad)) for k, p in m64.named_parameters()]
    tensors += [("updated." + k, f32(v)) for k, v in m64.state_dict().items()
                if k.endswith(".running_mean") or k.endswith(".running_var")]
    tensors += errors_f32(m32, m64)
    meta = {"model": name, "torch": torch.__version__, "batch": str(x.shape[0]),
            "content": "float64 training step, rounded to F32",
            "label_smoothing": str(SMOOTHING),
            "dropout": "cnnctl Philox masks, build seed %d, step 0" % BUILD_SEED}
    path = os.path.join(d, name + ".f64step.safetensors")
    torch_zoo.save_safetensors(path, tensors, meta)
    return loss.item(), note


def main(argv=None):
    ap = argparse.ArgumentParser(description="compute the float64 training-step referee")
    ap.add_argument("dir")
    ap.add_argument("--models", nargs="+", choices=torch_zoo.NAMES, metavar="NAME")
    args = ap.parse_args(argv)
    names = args.models or sorted(
        f[:-len(".weights.safetensors")] for f in os.listdir(args.dir)
        if f.endswith(".weights.safetensors"))
    batch, _ = torch_zoo.load_safetensors(os.path.join(args.dir, "batch.safetensors"))
    torch.use_deterministic_algorithms(True)
    for name in names:
        loss, note = make(name, args.dir, batch["input"], batch["labels"])
        print("%-10s float64 loss %.6f%s" % (name, loss, note), flush=True)


if __name__ == "__main__":
    main()
