#!/usr/bin/python3
"""PyTorch reference for the accuracy bar of scripts/test-accuracy.sh on the
committed CIFAR-10 subset (testdata/cifar10-jpeg-subset.tar.gz).

The recipe is the one test-accuracy.sh gives cnnctl: the tutorial's LeNet
(scripts/torch_zoo.py), Adam lr 0.001, batch 64, shuffled each epoch, pixels/255
then mean 0.5 / std 0.5 per channel, no augmentation, EPOCHS epochs on train/,
then top-1 of the final model (not the best epoch) on test/. JPEGs are decoded
with PIL (Debian's python3-pil), as torchvision's ImageFolder does.

  /usr/bin/python3 scripts/torch_accuracy.py [--epochs 10] [--seeds 1,2,3,4,5] [TARBALL]

Prints one line per seed and the min / median / max; --json prints them as JSON.
Needs python3-torch and python3-pil; not run by `make test` (the bar it set is
recorded in test-accuracy.sh and testdata/README.md).
"""

import argparse
import io
import json
import os
import statistics
import sys
import tarfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402


def load(tarball):
    """Return {split: (x uint8 (N,3,32,32), y int64 (N))}, classes sorted by name."""
    items = {"train": [], "test": []}
    with tarfile.open(tarball, "r:gz") as tf:
        for m in tf.getmembers():
            if not m.isfile() or not m.name.lower().endswith(".jpg"):
                continue
            split, cls, _ = m.name.split("/")
            img = Image.open(io.BytesIO(tf.extractfile(m).read())).convert("RGB")
            items[split].append((cls, m.name, np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))))
    classes = sorted({c for c, _, _ in items["train"]})
    out = {}
    for split, rows in items.items():
        rows.sort(key=lambda r: (classes.index(r[0]), r[1]))
        x = np.ascontiguousarray(np.stack([r[2] for r in rows]))
        y = np.array([classes.index(r[0]) for r in rows], dtype=np.int64)
        out[split] = (torch.from_numpy(x), torch.from_numpy(y))
    return out, classes


def run(data, epochs, seed, batch=64, lr=0.001):
    torch.manual_seed(seed)
    xtr, ytr = data["train"]
    xte, yte = data["test"]
    norm = lambda x: (x.float() / 255 - 0.5) / 0.5  # noqa: E731
    model = torch_zoo.build("lenet", 3, 32, 10)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=g)
        for i in range(0, len(ytr), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(norm(xtr[idx])), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(norm(xte)).argmax(1)
    return (pred == yte).float().mean().item()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("tarball", nargs="?", default=os.path.join(here, "..", "testdata", "cifar10-jpeg-subset.tar.gz"))
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seeds", default="1,2,3,4,5")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(2)
    data, _ = load(a.tarball)
    accs = []
    for s in [int(v) for v in a.seeds.split(",")]:
        accs.append(run(data, a.epochs, s))
        if not a.json:
            print("seed %d: test top-1 %.4f" % (s, accs[-1]), flush=True)
    res = {"epochs": a.epochs, "n_train": len(data["train"][1]), "n_test": len(data["test"][1]),
           "top1": accs, "min": min(accs), "median": statistics.median(accs), "max": max(accs)}
    if a.json:
        print(json.dumps(res))
    else:
        print("pytorch lenet %d epochs, %d train / %d test: top-1 min %.4f median %.4f max %.4f"
              % (a.epochs, res["n_train"], res["n_test"], res["min"], res["median"], res["max"]))


if __name__ == "__main__":
    main()
