"""bench/bench_gpt.py — PyTorch twin of bench_gpt.c: one training step of the
tiny GPT (pre-LN nn.TransformerEncoderLayer blocks with a causal mask, 4
layers, 4 heads, width 128, context 64, vocab 65, learned positions, output
layer tied to the token embedding) on batch 32 of random tokens, cross-entropy,
torch.optim.AdamW(lr=3e-4) (weight decay 0.01 on every parameter), float32.
Prints the best of 3 rounds of STEPS steps (default 20) per step as time_s."""
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, E, NL, H, B = 65, 64, 128, 4, 4, 32
steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
torch.manual_seed(1)


class TinyGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok_emb = nn.Embedding(V, E)
        self.pos_emb = nn.Embedding(T, E)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(E, H, 4 * E, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True) for _ in range(NL))
        self.ln_f = nn.LayerNorm(E)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1))

    def forward(self, idx):
        x = self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x, src_mask=self.mask)
        return self.ln_f(x) @ self.tok_emb.weight.t()


m = TinyGPT()
opt = torch.optim.AdamW(m.parameters(), lr=3e-4)
seq = torch.randint(0, V, (B, T + 1))
x, y = seq[:, :T], seq[:, 1:]


def step():
    loss = F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


for _ in range(3):
    step()
best = 1e30
for _ in range(3):
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    best = min(best, (time.perf_counter() - t0) / steps)
nparams = sum(p.numel() for p in m.parameters())
print(f"gpt step (batch {B}, context {T}, {nparams} params, AdamW): loss {loss:.4f}, {best * 1e3:.1f} ms/step, "
      f"torch {torch.__version__}, {torch.get_num_threads()} threads")
print(f"rss_mib: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
print(f"time_s: {best:.6f}")
