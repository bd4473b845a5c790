"""bench/bench_overhead.py — PyTorch twin of bench_overhead.c: a + b on two 0-d
float32 tensors that require grad (recorded). Prints time_s per op."""
import sys
import time

import torch

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
a = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(2.0, requires_grad=True)
best = 1e30
for rep in range(5):
    t0 = time.perf_counter()
    for i in range(n):
        a + b
    best = min(best, (time.perf_counter() - t0) / n)
print(f"add of two 0-d float32 tensors (recorded): {best * 1e9:.0f} ns")
print(f"time_s: {best:.9f}")
