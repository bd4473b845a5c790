"""bench/bench_tfops.py — PyTorch twin of bench_tfops.c: layer_norm over the
last dim of (2048,128) float32 with weight and bias ("ln", and "ln_composed"
= F.layer_norm again, so the C side's composed variant has a row to stand
beside), gelu, gelu tanh and silu on (2048,512); forward (recorded) and
forward+backward from sum(y * r). Per case the fastest of REPS repetitions.
Prints "case: NAME fwd_s F fwdbwd_s FB" and time_s (the sum of FB over ln,
gelu, gelu_tanh, silu). `bench_tfops.py REPS [CASE]`."""
import sys
import time

import torch
import torch.nn.functional as F

reps = int(sys.argv[1]) if len(sys.argv) > 1 and int(sys.argv[1]) > 0 else 15
only = sys.argv[2] if len(sys.argv) > 2 else None
torch.manual_seed(1)
N, D, H = 2048, 128, 512
x = (torch.rand(N, D) * 4 - 2).requires_grad_(True)
w = (torch.rand(D) + 0.5).requires_grad_(True)
b = (torch.rand(D) - 0.5).requires_grad_(True)
h = (torch.rand(N, H) * 8 - 4).requires_grad_(True)
rx, rh = torch.rand(N, D) * 2 - 1, torch.rand(N, H) * 2 - 1

cases = [
    ("ln", lambda: F.layer_norm(x, (D,), w, b, 1e-5), rx),
    ("ln_composed", lambda: F.layer_norm(x, (D,), w, b, 1e-5), rx),
    ("gelu", lambda: F.gelu(h), rh),
    ("gelu_tanh", lambda: F.gelu(h, approximate="tanh"), rh),
    ("silu", lambda: F.silu(h), rh),
]


def time_case(op, r, backward):
    best = 1e30
    for rep in range(-1, reps):  # -1: warm-up
        t0 = time.perf_counter()
        out = op()
        if backward:
            (out * r).sum().backward()
        dt = time.perf_counter() - t0
        if rep >= 0:
            best = min(best, dt)
    return best


total = 0.0
for name, op, r in cases:
    if only and name != only:
        continue
    f = time_case(op, r, False)
    fb = time_case(op, r, True)
    print(f"case: {name} fwd_s {f:.6g} fwdbwd_s {fb:.6g}  (bwd/fwd {(fb - f) / f:.2f})")
    if name != "ln_composed":
        total += fb
print(f"tfops ({N},{D}) and ({N},{H}) float32, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"time_s: {total:.6f}")
