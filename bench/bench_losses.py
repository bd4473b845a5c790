"""bench/bench_losses.py — PyTorch twin of bench_losses.c: the loss options
and functional forms alone, forward (recorded) and forward+backward, float32:
cross_entropy (class weights, ignore_index -100 on every 17th label, label
smoothing 0.1), nll_loss (weights), binary_cross_entropy, BCE with logits and
pos_weight, multi_margin_loss p=2, huber_loss delta 0.7, kl_div batchmean,
softplus beta 2 threshold 5, prelu (C) on (64,100,64), max_pool1d k3 s2 p1 on
(64,32,512). Losses on (4096,100). Per case the fastest of REPS repetitions;
prints "case: NAME fwd_s F fwdbwd_s FB" and time_s (sum of FB).
`bench_losses.py REPS [CASE]`."""
import torch
import torch.nn.functional as F

from bench_cases import run_cases

torch.manual_seed(1)
N, C = 4096, 100
x = (torch.randn(N, C) * 2).requires_grad_(True)
p = (torch.rand(N, C) * 0.96 + 0.02).requires_grad_(True)
t = torch.rand(N, C)
y_all = torch.randint(0, C, (N,))
y = y_all.clone()
y[::17] = -100
w = torch.rand(C) * 1.5 + 0.5
lq = F.log_softmax(torch.randn(N, C), 1).requires_grad_(True)
q = F.softmax(torch.randn(N, C), 1)
xp = torch.randn(64, 100, 64).requires_grad_(True)
wp = (torch.rand(100) * 0.4 + 0.1).requires_grad_(True)
xs = torch.randn(64, 32, 512).requires_grad_(True)

cases = [
    ("ce_all", lambda: F.cross_entropy(x, y, weight=w, label_smoothing=0.1)),
    ("nll_w", lambda: F.nll_loss(lq, y, weight=w)),
    ("bce_prob", lambda: F.binary_cross_entropy(p, t)),
    ("bce_pw", lambda: F.binary_cross_entropy_with_logits(x, t, pos_weight=w)),
    ("mm_p2", lambda: F.multi_margin_loss(x, y_all, p=2)),
    ("huber", lambda: F.huber_loss(x, t, delta=0.7)),
    ("kl", lambda: F.kl_div(lq, q, reduction="batchmean")),
    ("softplus_b", lambda: F.softplus(x, beta=2, threshold=5)),
    ("prelu", lambda: F.prelu(xp, wp)),
    ("maxpool1d", lambda: F.max_pool1d(xs, 3, stride=2, padding=1)),
]

total = run_cases(cases)
print(f"losses ({N},{C}) float32, torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"time_s: {total:.6f}")
