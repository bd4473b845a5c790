"""bench/bench_cnn.py — PyTorch twin of bench_cnn.c: one epoch of a
LeNet-style CNN (conv5x5 1→8 pad 2, ReLU, pool 2, conv5x5 8→16 pad 2, ReLU,
pool 2, fc 784→64, ReLU, fc →10) on 60000×1×28×28 random data, batch 64,
cross-entropy, SGD momentum 0.9, float32. Prints time_s and rss_mib.
`bench_cnn.py EPOCHS STEPS` runs fewer steps."""
import resource
import sys
import time

import torch
import torch.nn.functional as F

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
maxb = int(sys.argv[2]) * 64 if len(sys.argv) > 2 else 60000  # optional: fewer steps
torch.manual_seed(1)
N, B = 60000, 64
xs = torch.rand(N, 1, 28, 28)
ys = torch.randint(0, 10, (N,))
nn = torch.nn
net = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
best = 1e30
for e in range(epochs):
    t0 = time.perf_counter()
    for b in range(0, maxb - B + 1, B):
        x, y = xs[b:b + B], ys[b:b + B]
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    best = min(best, time.perf_counter() - t0)
print(f"cnn lenet epoch (batch {B}, {maxb // B} steps): last loss {loss.item():.4f}, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads")
print(f"time_s: {best:.6f}")
print(f"rss_mib: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
