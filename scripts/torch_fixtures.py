#!/usr/bin/python3
"""Write PyTorch reference fixtures for cnnctl's zoo models.

    /usr/bin/python3 scripts/torch_fixtures.py OUTDIR [--models lenet resnet ...] [--seed 1]

For each model NAME (default: all 17 of torch_zoo.NAMES):

OUTDIR/NAME.weights.safetensors
    Every state_dict entry under its exact PyTorch key, in state_dict order: F32,
    num_batches_tracked I64.
    Weights are seeded random (not PyTorch's default init; see randomize()), BatchNorm
    layers get non-trivial running statistics (see randomize()). num_batches_tracked
    (int64 in PyTorch) is stored as I64, as safetensors.torch.save_file stores it.

OUTDIR/NAME.io.safetensors
    input       (4,3,32,32)  seeded N(0,1) batch
    logits      (4,10)       PyTorch's eval-mode float32 forward
    logits_f64  (4,10)       the same forward in float64, rounded to F32 (a tighter
                             reference, to see how much of a difference is float32 noise)

OUTDIR/NAME.step.safetensors   (only lenet, resnet, vgg11-bn unless --step-models says)
    One training step from the weights above, model.train() with every Dropout p=0:
    input        (4,3,32,32)  the same batch as in NAME.io.safetensors
    labels       (4,)         class indices as F32
    train_logits (4,10)       train-mode forward (batch statistics in BN)
    loss         ()           mean cross-entropy of train_logits against labels
    grad.<p>                  d loss / d p for every parameter p (named_parameters order)
    updated.<k>               every state_dict entry after one
                              torch.optim.SGD(lr=0.1, momentum=0.9, weight_decay=5e-4)
                              step: parameters after the update, BN running_mean /
                              running_var after the train-mode forward (momentum 0.1,
                              unbiased batch variance), num_batches_tracked + 1.
                              On a first step SGD's momentum buffer is grad + wd*p,
                              so updated = p - lr*(grad + wd*p).

Each file's __metadata__ records the model, seed, torch version and these conventions.
"""

import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402

STEP_MODELS = ["lenet", "resnet", "vgg11-bn"]
BATCH = 4
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


def randomize(model, gen):
    """Seeded weights that keep activations O(1) through deep stacks.

    Conv2d / Linear weights ~ N(0, 2/fan_in) (He), biases ~ U(-0.1, 0.1);
    BatchNorm weight ~ U(0.5, 1.5), bias ~ U(-0.2, 0.2).

    BatchNorm running statistics: purely random ones make eval-mode activations grow
    without bound in deep residual nets (resnet56 logits reached 8e4), so they are
    calibrated instead: one train-mode forward of a separate seeded N(0,1) batch of 16
    with momentum=None sets running_mean/var to that batch's statistics, which are then
    perturbed (mean += N(0, 0.1^2) * std, var *= U(0.7, 1.4)) so that they are not the
    statistics of any batch. num_batches_tracked ~ U{1..1000}. momentum is back at 0.1.
    """
    bns = []
    with torch.no_grad():
        for _, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen)
                               * math.sqrt(2.0 / fan_in))
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.2 - 0.1)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)
                bns.append(m)
        calib = torch.randn(16, 3, 32, 32, generator=gen)
        if not bns:
            return
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        model(calib)
        for m in bns:
            c = m.num_features
            std = m.running_var.sqrt()
            m.running_mean.add_(torch.randn(c, generator=gen) * 0.1 * std)
            m.running_var.mul_(torch.rand(c, generator=gen) * 0.7 + 0.7)
            m.num_batches_tracked.fill_(int(torch.randint(1, 1001, (1,), generator=gen)))
            m.momentum = 0.1


def meta(name, seed, what):
    return {
        "format": "pt",
        "model": name,
        "seed": str(seed),
        "torch": torch.__version__,
        "content": what,
        "num_batches_tracked": "I64, as in PyTorch",
    }


def make(name, outdir, seed, step):
    gen = torch.Generator().manual_seed(seed)
    model = torch_zoo.build(name)
    randomize(model, gen)
    x = torch.randn(BATCH, 3, 32, 32, generator=gen)
    labels = torch.randint(0, 10, (BATCH,), generator=gen)

    sd = model.state_dict()
    path = os.path.join(outdir, name + ".weights.safetensors")
    torch_zoo.save_safetensors(path, list(sd.items()), meta(name, seed, "weights"))
    written = [path]

    model.eval()
    with torch.no_grad():
        logits = model(x)
        m64 = torch_zoo.build(name).double()
        m64.load_state_dict(model.state_dict())
        m64.eval()
        logits64 = m64(x.double())
    path = os.path.join(outdir, name + ".io.safetensors")
    torch_zoo.save_safetensors(
        path, [("input", x), ("logits", logits), ("logits_f64", logits64)],
        meta(name, seed, "eval-mode input and logits"))
    written.append(path)

    if step:
        model.train()
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM,
                              weight_decay=WEIGHT_DECAY)
        opt.zero_grad()
        out = model(x)
        loss = F.cross_entropy(out, labels)
        loss.backward()
        grads = [("grad." + k, p.grad) for k, p in model.named_parameters()]
        opt.step()
        tensors = [("input", x), ("labels", labels.float()), ("train_logits", out),
                   ("loss", loss)] + grads
        tensors += [("updated." + k, v) for k, v in model.state_dict().items()]
        m = meta(name, seed, "one SGD training step")
        m.update({"optimizer": "SGD lr=%g momentum=%g weight_decay=%g" % (
            LR, MOMENTUM, WEIGHT_DECAY), "dropout": "p=0", "loss": "mean cross-entropy"})
        path = os.path.join(outdir, name + ".step.safetensors")
        torch_zoo.save_safetensors(path, tensors, m)
        written.append(path)
    return written, logits


def main(argv=None):
    ap = argparse.ArgumentParser(description="write PyTorch reference fixtures")
    ap.add_argument("outdir")
    ap.add_argument("--models", nargs="+", default=torch_zoo.NAMES,
                    choices=torch_zoo.NAMES, metavar="NAME")
    ap.add_argument("--step-models", nargs="*", default=STEP_MODELS,
                    choices=torch_zoo.NAMES, metavar="NAME",
                    help="models that also get NAME.step.safetensors")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    for name in args.models:
        files, logits = make(name, args.outdir, args.seed, name in args.step_models)
        sizes = ", ".join("%s %d B" % (os.path.basename(f), os.path.getsize(f))
                          for f in files)
        print("%-10s |logits| max %.3g  %s" % (name, logits.abs().max().item(), sizes))


if __name__ == "__main__":
    main()
