"""bench/bench_eltwise.py — PyTorch twin of bench_eltwise.c: elementwise math
and the exp/log reductions alone on 1024x1024 float32, forward (recorded) and
forward+backward (from y's first element: flattened, sliced, summed; bce from
its scalar loss): softplus, elu (alpha 1), log1p (x in [-0.9, 3)), logsumexp
over axis 1 (lse_last) and axis 0 (lse_0), log_softmax along axis 0 (lsm_0),
bce_with_logits mean (y in [0, 1), no grad); x in [-4, 4). Per case the
fastest of REPS repetitions. Prints "case: NAME fwd_s F fwdbwd_s FB" and
time_s (sum of FB). `bench_eltwise.py REPS [CASE]`."""
import torch
import torch.nn.functional as F

from bench_cases import run_cases

torch.manual_seed(1)
R = C = 1024
x = (torch.rand(R, C) * 8 - 4).requires_grad_(True)
xl = (torch.rand(R, C) * 3.9 - 0.9).requires_grad_(True)
y = torch.rand(R, C)

cases = [
    ("softplus", lambda: F.softplus(x)),
    ("elu", lambda: F.elu(x, 1.0)),
    ("log1p", lambda: torch.log1p(xl)),
    ("lse_last", lambda: torch.logsumexp(x, 1)),
    ("lse_0", lambda: torch.logsumexp(x, 0)),
    ("lsm_0", lambda: F.log_softmax(x, 0)),
    ("bce", lambda: F.binary_cross_entropy_with_logits(x, y)),
]

total = run_cases(cases)
print(f"eltwise ({R},{C}) float32, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"time_s: {total:.6f}")
