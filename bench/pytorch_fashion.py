#!/usr/bin/python3
"""PyTorch twin of tutorials/fashion_mnist.c: the same data handling, models and
hyper-parameters, so its accuracies can be compared with nabla's.

    /usr/bin/python3 bench/pytorch_fashion.py [--full] [--model mlp|cnn|both]
                                              [--epochs N] [--train N] [--data DIR]

Same as the C demo: pixels/255; a seeded 1/12 validation split (55000 + 5000
in --full; 10% otherwise); normalization with the training set's mean/std;
Adam lr 1e-3, batch 64, reshuffled each epoch; PyTorch's default inits (which
nabla's layers copy). The split and the shuffles come from torch's generator,
not nabla's, so the runs are twins in distribution, not bit for bit.
Needs Debian's python3-torch (torch 1.13 here); CI never runs it.
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    assert arr.size == int(np.prod(dims)), path
    return arr.reshape(dims)


def load(dirname, prefix):
    def find(name):
        for p in (os.path.join(dirname, name + ".gz"), os.path.join(dirname, name)):
            if os.path.exists(p):
                return p
        raise FileNotFoundError(name)
    x = read_idx(find(f"{prefix}-images-idx3-ubyte")).astype(np.float32) / 255.0
    y = read_idx(find(f"{prefix}-labels-idx1-ubyte")).astype(np.int64)
    return torch.from_numpy(x).reshape(-1, 1, 28, 28), torch.from_numpy(y)


def make_mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                         nn.Linear(128, 10))


def make_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
                         nn.Linear(128, 10))


@torch.no_grad()
def evaluate(net, x, y):
    net.eval()
    loss, right = 0.0, 0
    for s in range(0, len(x), 1000):
        logits = net(x[s:s + 1000])
        loss += F.cross_entropy(logits, y[s:s + 1000], reduction="sum").item()
        right += (logits.argmax(1) == y[s:s + 1000]).sum().item()
    net.train()
    return loss / len(x), right / len(x)


def run(name, make, epochs, train, val, test, batch=64, lr=1e-3):
    torch.manual_seed(42)
    net = make()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, yt = train
    nparams = sum(p.numel() for p in net.parameters())
    print(f"\n== {name} (PyTorch {torch.__version__}): {nparams} parameters, Adam lr {lr}, batch {batch}, "
          f"{epochs} epochs on {len(xt)} images ==")
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        perm = torch.randperm(len(xt))
        tot, right, nb = 0.0, 0, 0
        for s in range(0, len(xt), batch):
            idx = perm[s:s + batch]
            logits = net(xt[idx])
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item()
            nb += 1
            right += (logits.argmax(1) == yt[idx]).sum().item()
        vl, va = evaluate(net, *val)
        dt = time.time() - t0
        print(f"{name} epoch {epoch}/{epochs}  loss {tot / nb:.4f}  acc {100 * right / len(xt):.2f}%  "
              f"val_loss {vl:.4f}  val_acc {100 * va:.2f}%  {dt:.1f}s  {nb / dt:.1f} batch/s", flush=True)
    tl, ta = evaluate(net, *test)
    print(f"{name}: test accuracy {100 * ta:.2f}% (loss {tl:.4f}) on {len(test[0])} images", flush=True)
    return ta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--model", default="both", choices=["mlp", "cnn", "both"])
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--train", type=int)
    ap.add_argument("--data", default=os.environ.get("NB_FASHION_MNIST", DEBIAN_DIR))
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    epochs, ntrain, ntest = (10, 60000, 10000) if a.full else (1, 6000, 2000)
    epochs = a.epochs or epochs
    ntrain = a.train or ntrain
    x, y = load(a.data, "train")
    xte, yte = load(a.data, "t10k")
    x, y, xte, yte = x[:ntrain], y[:ntrain], xte[:ntest], yte[:ntest]
    g = torch.Generator().manual_seed(2024)
    perm = torch.randperm(len(x), generator=g)
    nval = round(len(x) * (1 / 12 if len(x) >= 10000 else 0.1))
    vi, ti = perm[:nval], perm[nval:]
    xtr, ytr, xva, yva = x[ti], y[ti], x[vi], y[vi]
    mean, std = xtr.mean().item(), xtr.std(unbiased=False).item()  # per channel (one channel)
    xtr, xva, xte = (xtr - mean) / std, (xva - mean) / std, (xte - mean) / std
    print(f"Fashion-MNIST: {len(xtr)} train, {len(xva)} validation, {len(xte)} test images; "
          f"train mean {mean:.4f}, std {std:.4f}")
    if a.model in ("mlp", "both"):
        run("mlp", make_mlp, epochs, (xtr, ytr), (xva, yva), (xte, yte))
    if a.model in ("cnn", "both"):
        run("cnn", make_cnn, epochs, (xtr, ytr), (xva, yva), (xte, yte))


if __name__ == "__main__":
    main()
