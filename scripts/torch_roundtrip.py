#!/usr/bin/python3
"""Load a cnnctl-exported safetensors file into the PyTorch model and predict.

    /usr/bin/python3 scripts/torch_roundtrip.py CKPT.safetensors NAME IMAGES... \\
        [--mean 0.5,0.5,0.5 --std 0.5,0.5,0.5]

CKPT is loaded with load_state_dict(strict=True): every key of torch_zoo.build(NAME)'s
state_dict must be present with the same shape, and nothing else. Each tensor may be
F32, F16, BF16, F64 or I64; it is cast to the dtype PyTorch uses for that key
(num_batches_tracked back to int64).

IMAGES are any mix of
  *.safetensors  tensor "input" (or the only tensor): (N,3,32,32) or (3,32,32), used as is
  *.png          8-bit gray/RGB/RGBA PNG, 32x32 (decoded here, no PIL needed)
  *.ppm          binary P6, 32x32
PNG/PPM pixels are scaled to [0,1], then (x - mean) / std per channel. Default: the
mean and std that `cnnctl export` records in the file's metadata, else mean 0, std 1
(no normalisation).

Prints JSON to stdout:
  {"model": NAME, "checkpoint": CKPT, "predictions": [
     {"source": path, "index": i, "class": argmax, "logits": [...], "probs": [...]}, ...]}
Exit status 1 (message on stderr) if the checkpoint does not load strictly.
"""

import argparse
import json
import os
import struct
import sys
import zlib

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_zoo  # noqa: E402


def decode_png(path):
    """Minimal PNG decoder: 8-bit, colour types 0/2/4/6, no interlace. Returns (H,W,C) bytes."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("%s: only 8-bit non-interlaced gray/RGB/RGBA PNG supported" % path)
    raw = zlib.decompress(idat)
    stride = w * channels
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        ft = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = prev[i]
            c = prev[i - channels] if i >= channels else 0
            if ft == 1:
                line[i] = (line[i] + a) & 255
            elif ft == 2:
                line[i] = (line[i] + b) & 255
            elif ft == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        out[y * stride:(y + 1) * stride] = line
        prev = line
    t = torch.tensor(list(out), dtype=torch.uint8).reshape(h, w, channels)
    if channels in (2, 4):
        t = t[:, :, :channels - 1]  # drop alpha
    if t.shape[2] == 1:
        t = t.expand(h, w, 3)
    return t


def decode_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError("%s: only binary P6 with maxval 255 supported" % path)
    w, h = int(fields[1]), int(fields[2])
    return torch.tensor(list(data[pos:pos + w * h * 3]), dtype=torch.uint8).reshape(h, w, 3)


def load_images(paths, mean, std):
    """Return a list of (source, index, (3,H,W) float tensor)."""
    items = []
    for p in paths:
        if p.endswith(".safetensors"):
            t, _ = torch_zoo.load_safetensors(p)
            x = t["input"] if "input" in t else (list(t.values())[0] if len(t) == 1 else None)
            if x is None:
                raise ValueError("%s: no tensor named input" % p)
            if x.dim() == 3:
                x = x.unsqueeze(0)
            items += [(p, i, x[i]) for i in range(x.shape[0])]
            continue
        hwc = decode_png(p) if p.lower().endswith(".png") else decode_ppm(p)
        x = hwc.permute(2, 0, 1).float() / 255.0
        x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
        items.append((p, 0, x))
    return items


def floats(s):
    v = [float(x) for x in s.split(",")]
    return v * 3 if len(v) == 1 else v


def main(argv=None):
    ap = argparse.ArgumentParser(description="predict with a cnnctl export in PyTorch")
    ap.add_argument("checkpoint")
    ap.add_argument("name", choices=torch_zoo.NAMES)
    ap.add_argument("images", nargs="+")
    ap.add_argument("--mean", type=floats, default=None)
    ap.add_argument("--std", type=floats, default=None)
    args = ap.parse_args(argv)

    model = torch_zoo.build(args.name)
    tensors, meta = torch_zoo.load_safetensors(args.checkpoint)
    if args.mean is None:
        args.mean = json.loads(meta["mean"]) if "mean" in meta else [0.0, 0.0, 0.0]
    if args.std is None:
        args.std = json.loads(meta["std"]) if "std" in meta else [1.0, 1.0, 1.0]
    ref = model.state_dict()
    state = {k: (v.to(ref[k].dtype) if k in ref else v) for k, v in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        print("torch_roundtrip: %s: %s" % (args.checkpoint, e), file=sys.stderr)
        return 1
    model.eval()

    items = load_images(args.images, args.mean, args.std)
    preds = []
    with torch.no_grad():
        for src, i, x in items:
            logits = model(x.unsqueeze(0))[0]
            probs = torch.softmax(logits, 0)
            preds.append({"source": src, "index": i, "class": int(logits.argmax()),
                          "logits": [float(v) for v in logits],
                          "probs": [float(v) for v in probs]})
    json.dump({"model": args.name, "checkpoint": args.checkpoint, "predictions": preds},
              sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
