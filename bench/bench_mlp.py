"""bench/bench_mlp.py — PyTorch twin of bench_mlp.c: one epoch of a
784-256-128-10 ReLU MLP on 60000×784 random data, batch 64, log-softmax +
NLL, SGD momentum 0.9, float32. Prints time_s and rss_mib."""
import resource
import sys
import time

import torch
import torch.nn.functional as F

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
maxb = int(sys.argv[2]) * 64 if len(sys.argv) > 2 else 60000  # optional: fewer steps
torch.manual_seed(1)
N, NIN, B = 60000, 784, 64
xs = torch.rand(N, NIN)
ys = torch.randint(0, 10, (N,))
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                          torch.nn.Linear(128, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
best = 1e30
for e in range(epochs):
    t0 = time.perf_counter()
    for b in range(0, maxb - B + 1, B):
        x, y = xs[b:b + B], ys[b:b + B]
        loss = F.nll_loss(F.log_softmax(net(x), dim=1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    best = min(best, time.perf_counter() - t0)
print(f"mlp 784-256-128-10 epoch (batch {B}): last loss {loss.item():.4f}, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads")
print(f"time_s: {best:.6f}")
print(f"rss_mib: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
