"""bench/bench_conv.py — PyTorch twin of bench_conv.c: conv2d and max_pool2d
alone, forward (recorded) and forward+backward (from y's first
element: flattened, sliced, summed), batch
64, float32: conv1 (64,1,28,28)*(8,1,5,5) pad 2 (x needs no grad), conv2
(64,8,14,14)*(16,8,5,5) pad 2, conv3 (64,32,16,16)*(64,32,3,3) pad 1, pool1
max_pool2d 2x2/2 of (64,8,28,28). Per case the fastest of 31 short repetitions
(a few ms: on a loaded machine some run unpreempted), per iteration. Prints "case: NAME fwd_s F fwdbwd_s FB" and time_s (sum of FB).
`bench_conv.py SCALE` multiplies the iteration counts."""
import sys
import time

import torch
import torch.nn.functional as F

scale = max(int(sys.argv[1]), 1) if len(sys.argv) > 1 else 1
torch.manual_seed(1)
cases = [  # name, pool, n, c, h, w, o, k, pad, x_grad, iters
    ("conv1", False, 64, 1, 28, 28, 8, 5, 2, False, 4),
    ("conv2", False, 64, 8, 14, 14, 16, 5, 2, True, 2),
    ("conv3", False, 64, 32, 16, 16, 64, 3, 1, True, 1),
    ("pool1", True, 64, 8, 28, 28, 0, 0, 0, True, 4),
]


def time_case(op, iters, backward):
    best = 1e30
    for rep in range(-1, 31):  # -1: warm-up
        t0 = time.perf_counter()
        for _ in range(iters):
            y = op()
            if backward:
                y.view(-1)[0:1].sum().backward()
        dt = (time.perf_counter() - t0) / iters
        if rep >= 0:
            best = min(best, dt)
    return best


total = 0.0
for name, pool, n, c, h, w, o, k, pad, x_grad, iters in cases:
    x = (torch.rand(n, c, h, w) * 2 - 1).requires_grad_(x_grad)
    if pool:
        def op():
            return F.max_pool2d(x, 2, 2)
    else:
        wt = ((torch.rand(o, c, k, k) - 0.5) * 0.4).requires_grad_(True)
        bt = ((torch.rand(o) - 0.5) * 0.4).requires_grad_(True)

        def op():
            return F.conv2d(x, wt, bt, padding=pad)
    f = time_case(op, iters * scale, False)
    fb = time_case(op, iters * scale, True)
    print(f"case: {name} fwd_s {f:.6g} fwdbwd_s {fb:.6g}  (bwd/fwd {(fb - f) / f:.2f})")
    total += fb
print(f"conv/pool layers, batch 64, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"time_s: {total:.6f}")
