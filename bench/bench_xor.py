"""bench/bench_xor.py — PyTorch twin of bench_xor.c: one training step of the
2-8-1 sigmoid XOR net (forward, MSE, backward, SGD), float32.
Prints "time_s: <seconds per step>" (best of 5 batches)."""
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
torch.manual_seed(1)
X = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=torch.float32)
Y = torch.tensor([[0], [1], [1], [0]], dtype=torch.float32)
W1 = (torch.rand(2, 8) * 2 - 1).requires_grad_()
b1 = torch.zeros(8, requires_grad=True)
W2 = (torch.rand(8, 1) * 2 - 1).requires_grad_()
b2 = torch.zeros(1, requires_grad=True)
params = [W1, b1, W2, b2]
best = 1e30
for rep in range(5):
    t0 = time.perf_counter()
    for it in range(steps):
        h = torch.sigmoid(X @ W1 + b1)
        yh = torch.sigmoid(h @ W2 + b2)
        d = yh - Y
        loss = (d * d).mean()
        for p in params:
            p.grad = None
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-0.5)
    dt = (time.perf_counter() - t0) / steps
    best = min(best, dt)
print(f"xor 2-8-1 step, {steps} steps x5: final loss {loss.item():.4f}")
print(f"time_s: {best:.9f}")
