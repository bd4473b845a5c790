"""bench/bench_gradcheck.py — no like-for-like PyTorch twin exists (nabla's
registry has no PyTorch equivalent); this times torch.autograd.gradcheck on a
comparable set (a few shapes of each of PyTorch's versions of nabla's core
ops) so the figure has a scale. Prints time_s."""
import time

import torch

torch.manual_seed(0)
def d(*s, lo=0.0):
    return (torch.rand(s, dtype=torch.float64) + lo).requires_grad_()

cases = []
for f in [torch.neg, torch.exp, torch.sigmoid, torch.tanh, torch.relu, torch.abs]:
    for s in [(), (7,), (1, 5), (2, 3, 5)]:
        cases.append((f, (d(*s),)))
for f in [torch.add, torch.sub, torch.mul, torch.div]:
    for s, t in [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((5,), ()), ((1, 3), (2, 1, 3))]:
        cases.append((f, (d(*s), d(*t, lo=0.5))))
for s, t in [((3, 4), (4, 5)), ((1, 3), (3, 1)), ((2, 3, 4), (4, 2)), ((2, 3, 4), (2, 4, 3))]:
    cases.append((torch.matmul, (d(*s), d(*t))))
for s in [(3, 4), (2, 3, 5)]:
    cases.append((lambda x: torch.softmax(x, -1), (d(*s),)))
    cases.append((lambda x: torch.log_softmax(x, -1), (d(*s),)))
    cases.append((lambda x: x.sum(0), (d(*s),)))
    cases.append((lambda x: x.mean(-1), (d(*s),)))
t0 = time.perf_counter()
for f, inp in cases:
    assert torch.autograd.gradcheck(f, inp)
print(f"torch.autograd.gradcheck on {len(cases)} op samples")
print(f"time_s: {time.perf_counter() - t0:.6f}")
