#!/usr/bin/python3
"""The PyTorch peer of `cnnctl train --config resnet-fast` for the time-to-accuracy check.

    python3 scripts/torch_train.py TARBALL [--model resnet] [--epochs 15] [--device cuda]
                                   [--val-split 0.1] [--seed 1] [--json OUT.json]
                                   [--batch-size 128 --lr 0.1 --recipe resnet-fast]

--batch-size 512 --lr 0.4 --recipe resnet-fast-512 is configs/recipes/resnet-fast-512.yaml.

Trains a zoo model (scripts/torch_zoo.py, the tutorial's definitions) with the recipe of
configs/recipes/resnet-fast.yaml, as cnnctl runs it:
- SGD, Nesterov momentum 0.9, weight decay 5e-4 on every parameter, batch 128, the last
  batch kept unless it holds one image (cnnctl drops that one: BatchNorm cannot train on it);
- cnnctl's one-cycle schedule stepped per batch: cosine from 0.1/25 up to 0.1 over the first
  30% of the steps, then cosine down to 0.1/25/1e4 (PyTorch's OneCycleLR with
  cycle_momentum=False, which is exactly that shape);
- label smoothing 0.1; RandomCrop(32, padding=4) with zeros and RandomHorizontalFlip, then
  pixels/255 normalised by the training split's per-channel mean and std (cnnctl's default
  when the recipe names none);
- --val-split 0.1: a seeded, class-balanced 10% of the training images held out (the same
  sizes as cnnctl's split; not the same images — the accuracies compare, not the bits).

Like cnnctl with the decoded-image cache, it decodes every JPEG first (PIL, or torchvision's
decoder) and does not time that: the wall time printed covers the training epochs and the
validation passes only. The data set lives on the device as uint8 and every step's shuffle,
crop, flip and normalisation run there (what a fast PyTorch loop does; no DataLoader).
Prints one line per epoch and a summary; --json writes {"wall_s", "epoch_s", "val_top1", ...}.
"""

import argparse
import io
import json
import math
import os
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402


def decoder():
    try:
        from PIL import Image

        return lambda b: np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    except ImportError:
        from torchvision.io import decode_jpeg

        return lambda b: decode_jpeg(torch.frombuffer(bytearray(b), dtype=torch.uint8)).numpy()


def load(tarball):
    """The train/ images of an ImageFolder tarball: x uint8 (N,3,32,32), y int64 (N,)."""
    dec = decoder()
    rows = []
    with tarfile.open(tarball, "r:gz") as tf:
        for m in tf.getmembers():
            parts = m.name.split("/")
            if m.isfile() and len(parts) == 3 and parts[0] == "train" and parts[2].lower().endswith((".jpg", ".jpeg", ".png")):
                rows.append((parts[1], m.name, dec(tf.extractfile(m).read())))
    classes = sorted({r[0] for r in rows})
    rows.sort(key=lambda r: (r[0], r[1]))
    x = torch.from_numpy(np.ascontiguousarray(np.stack([r[2] for r in rows])))
    y = torch.tensor([classes.index(r[0]) for r in rows], dtype=torch.int64)
    return x, y, classes


def split(y, frac, seed):
    """Seeded, class-balanced hold-out: (train indices, val indices)."""
    g = torch.Generator().manual_seed(seed)
    tr, va = [], []
    for c in range(int(y.max()) + 1):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = int(round(frac * len(idx)))
        va.append(idx[:k])
        tr.append(idx[k:])
    return torch.cat(tr), torch.cat(va)


def onecycle(step, total, peak):
    """cnnctl's schedule (internal/train/schedule.go) at fractional position step/total."""
    up = 0.3 * total
    lo, end = peak / 25, peak / 25 / 1e4
    if step < up:
        return lo + (peak - lo) * (1 - math.cos(math.pi * step / up)) / 2
    f = min(1.0, (step - up) / (total - up))
    return end + (peak - end) * (1 + math.cos(math.pi * f)) / 2


def augment(xb, mean, std, gen, pad=4):
    """RandomCrop(32, padding=pad) + RandomHorizontalFlip + normalise, on xb's device."""
    n, c, h, w = xb.shape
    xp = F.pad(xb.float(), (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=xb.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen, device=xb.device)
    rows = (oy[:, None] + torch.arange(h, device=xb.device)[None, :])  # (n,h)
    cols = (ox[:, None] + torch.arange(w, device=xb.device)[None, :])  # (n,w)
    flip = torch.rand(n, generator=gen, device=xb.device) < 0.5
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    out = xp[torch.arange(n, device=xb.device)[:, None, None, None], torch.arange(c, device=xb.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]
    return (out / 255 - mean) / std


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tarball")
    ap.add_argument("--model", default="resnet", choices=torch_zoo.NAMES)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--val-split", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images (a smoke test)")
    ap.add_argument("--recipe", default="resnet-fast", help="the recipe's name, for the output only (its batch size and lr are --batch-size and --lr)")
    ap.add_argument("--json", metavar="FILE")
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    t0 = time.time()
    x, y, classes = load(a.tarball)
    if a.limit:
        keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(a.seed))[:a.limit]
        x, y = x[keep], y[keep]
    tr, va = split(y, a.val_split, a.seed)
    decode_s = time.time() - t0
    xtr, ytr, xva, yva = x[tr].to(dev), y[tr].to(dev), x[va].to(dev), y[va].to(dev)
    mean = (xtr.float() / 255).mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
    std = (xtr.float() / 255).std(dim=(0, 2, 3)).view(1, 3, 1, 1)
    torch.manual_seed(a.seed)
    model = torch_zoo.build(a.model).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    n = len(ytr)
    steps = n // a.batch_size + (1 if n % a.batch_size > 1 else 0)
    total = steps * a.epochs
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.time()
    epochs, top1 = [], 0.0
    for ep in range(a.epochs):
        e0 = time.time()
        model.train()
        perm = torch.randperm(n, generator=gen, device=dev)
        loss_sum = torch.zeros((), device=dev)
        for s in range(steps):
            idx = perm[s * a.batch_size:(s + 1) * a.batch_size]
            for g in opt.param_groups:
                g["lr"] = onecycle(ep * steps + s, total, a.lr)
            out = model(augment(xtr[idx], mean, std, gen))
            loss = F.cross_entropy(out, ytr[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.detach()
        model.eval()
        correct = 0
        with torch.no_grad():
            for s in range(0, len(yva), 1000):
                out = model((xva[s:s + 1000].float() / 255 - mean) / std)
                correct += int((out.argmax(1) == yva[s:s + 1000]).sum())
        top1 = correct / max(1, len(yva))
        sync()
        epochs.append(time.time() - e0)
        print("epoch %2d/%d  train loss %.4f  val top-1 %.4f  %.2fs" % (
            ep + 1, a.epochs, loss_sum.item() / steps, top1, epochs[-1]), flush=True)
    wall = time.time() - start
    res = {"model": a.model, "recipe": a.recipe, "batch_size": a.batch_size, "lr": a.lr, "epochs": a.epochs, "wall_s": wall,
           "epoch_s": sorted(epochs)[len(epochs) // 2], "val_top1": top1, "train_images": n,
           "val_images": len(yva), "decode_s_excluded": decode_s, "device": str(dev),
           "torch": torch.__version__}
    print("pytorch %s %s: %d epochs in %.1f s (median epoch %.2f s; decode %.1f s not counted), "
          "val top-1 %.4f" % (a.model, a.recipe, a.epochs, wall, res["epoch_s"], decode_s, top1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
