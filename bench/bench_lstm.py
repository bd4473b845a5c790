"""bench/bench_lstm.py — PyTorch twin of bench_lstm.c: a character-level LM
training step (embedding 65 -> 64, torch.nn.LSTM or torch.nn.GRU 64 -> 256,
linear 256 -> 65, cross-entropy, AdamW), batch 32, sequence 64, float32,
random characters. Prints time_s (the best of 3 rounds' mean step), cpu_s (the
same in process CPU time, all threads) and rss_mib.

    bench_lstm.py [lstm|gru] [steps]"""
import resource
import sys
import time

import torch
import torch.nn.functional as F

mode = sys.argv[1] if len(sys.argv) > 1 else "lstm"
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.manual_seed(1)
T, B, V, E, H = 64, 32, 65, 64, 256


class LM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.rnn = (torch.nn.GRU if mode == "gru" else torch.nn.LSTM)(E, H)
        self.head = torch.nn.Linear(H, V)

    def forward(self, idx):
        y, _ = self.rnn(self.emb(idx))
        return self.head(y)


net = LM()
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)


def step():
    idx = torch.randint(0, V, (T, B))
    tgt = torch.randint(0, V, (T * B,))
    loss = F.cross_entropy(net(idx).reshape(T * B, V), tgt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


loss = step()  # warm-up
best = best_cpu = 1e30
for r in range(3):
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        loss = step()
    best = min(best, (time.perf_counter() - t0) / steps)
    best_cpu = min(best_cpu, (time.process_time() - c0) / steps)
print(f"char-LM {mode.upper()} step (batch {B}, seq {T}): {1e3 * best:.2f} ms, loss {loss:.3f}, torch {torch.__version__}, "
      f"{torch.get_num_threads()} threads")
print(f"time_s: {best:.6f}")
print(f"cpu_s: {best_cpu:.6f}")
print(f"rss_mib: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
