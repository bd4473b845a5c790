"""bench/bench_hvp.py — PyTorch twin of bench_hvp.c: the cost of a
Hessian-vector product over the cost of a gradient for a 784-256-128-10 tanh
MLP (log-softmax + NLL, batch 64, float32), both with torch.autograd.grad.
Prints grad_s, hvp_s, hvp_over_grad and time_s (= hvp_s)."""
import time

import torch
import torch.nn.functional as F

torch.manual_seed(1)
STEPS, B, NIN = 100, 64, 784
xs = torch.rand(STEPS * B, NIN)
ys = torch.randint(0, 10, (STEPS * B,))
dims = [NIN, 256, 128, 10]
p = []
for l in range(3):
    bound = 1 / dims[l] ** 0.5
    p.append((torch.rand(dims[l + 1], dims[l]) * 2 - 1).mul_(bound).requires_grad_())
    p.append((torch.rand(dims[l + 1]) * 2 - 1).mul_(bound).requires_grad_())
v = [torch.randn_like(t) for t in p]


def loss_of(x, y):
    h = torch.tanh(F.linear(x, p[0], p[1]))
    h = torch.tanh(F.linear(h, p[2], p[3]))
    return F.nll_loss(F.log_softmax(F.linear(h, p[4], p[5]), dim=1), y)


def run(hvp):
    t0 = time.perf_counter()
    for b in range(STEPS):
        x, y = xs[b * B:(b + 1) * B], ys[b * B:(b + 1) * B]
        loss = loss_of(x, y)
        if not hvp:
            torch.autograd.grad(loss, p)
        else:
            g = torch.autograd.grad(loss, p, create_graph=True)
            gv = sum((gi * vi).sum() for gi, vi in zip(g, v))
            torch.autograd.grad(gv, p)
    return time.perf_counter() - t0


run(False)
run(True)
tg = th = 1e30
for r in range(3):
    tg = min(tg, run(False))
    th = min(th, run(True))
print(f"hvp mlp 784-256-128-10 tanh, batch {B}, {STEPS} steps, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads: grad {1e3 * tg / STEPS:.3f} ms/step, hvp {1e3 * th / STEPS:.3f} ms/step")
print(f"grad_s: {tg:.6f}\nhvp_s: {th:.6f}\nhvp_over_grad: {th / tg:.3f}\ntime_s: {th:.6f}")
