"""bench/bench_tfops.py — PyTorch twin of bench_tfops.c: layer_norm over the
last dim of (2048,128) float32 with weight and bias ("ln", and "ln_composed"
= F.layer_norm again, so the C side's composed variant has a row to stand
beside), gelu, gelu tanh and silu on (2048,512), and affine_add: x + F.linear(h, w2, b)
with h (2048,512), w2 (128,512) (the MLP's second layer and its residual;
"affine_add_composed" the same again, beside the C side's add of affine);
forward (recorded) and
forward+backward from sum(y * r). Per case the fastest of REPS repetitions.
Prints "case: NAME fwd_s F fwdbwd_s FB" and time_s (the sum of FB over ln,
gelu, gelu_tanh, silu). `bench_tfops.py REPS [CASE]`."""
import torch
import torch.nn.functional as F

from bench_cases import run_cases

torch.manual_seed(1)
N, D, H = 2048, 128, 512
x = (torch.rand(N, D) * 4 - 2).requires_grad_(True)
w = (torch.rand(D) + 0.5).requires_grad_(True)
b = (torch.rand(D) - 0.5).requires_grad_(True)
h = (torch.rand(N, H) * 8 - 4).requires_grad_(True)
rx, rh = torch.rand(N, D) * 2 - 1, torch.rand(N, H) * 2 - 1
w2 = (torch.rand(D, H) * 0.1 - 0.05).requires_grad_(True)
by_rx, by_rh = (lambda out: (out * rx).sum()), (lambda out: (out * rh).sum())

cases = [
    ("ln", lambda: F.layer_norm(x, (D,), w, b, 1e-5), by_rx),
    ("ln_composed", lambda: F.layer_norm(x, (D,), w, b, 1e-5), by_rx),
    ("gelu", lambda: F.gelu(h), by_rh),
    ("gelu_tanh", lambda: F.gelu(h, approximate="tanh"), by_rh),
    ("silu", lambda: F.silu(h), by_rh),
    ("affine_add", lambda: x + F.linear(h, w2, b), by_rx),
    ("affine_add_composed", lambda: x + F.linear(h, w2, b), by_rx),
]

total = run_cases(cases, untotalled=("ln_composed", "affine_add", "affine_add_composed"))
print(f"tfops ({N},{D}) and ({N},{H}) float32, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"time_s: {total:.6f}")
