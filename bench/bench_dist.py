"""bench/bench_dist.py — PyTorch twin of bench_dist.c: bench_mlp's epoch
(784-256-128-10 ReLU MLP, 60000x784 random data, global batch 64, SGD momentum
0.9, float32) under DistributedDataParallel on W processes (gloo over
loopback: this torch has no MPI backend), each 64/W rows of every batch, one
thread each. W = 1 runs plain (no DDP). Prints time_s (best epoch, the ranks'
mean) like bench_dist.c.

    bench_dist.py [WORLD] [EPOCHS] [BUCKET_MB]"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F


def run(rank, world, epochs, bucket_mb, port):
    torch.set_num_threads(1)
    torch.manual_seed(1)
    N, NIN, GB = 60000, 784, 64
    per = GB // world
    xs = torch.rand(N, NIN)
    ys = torch.randint(0, 10, (N,))
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                              torch.nn.ReLU(), torch.nn.Linear(128, 10))
    if world > 1:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
        net = torch.nn.parallel.DistributedDataParallel(net, bucket_cap_mb=bucket_mb)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    best = 1e30
    for _ in range(epochs):
        if world > 1:
            dist.barrier()
        t0 = time.perf_counter()
        for b in range(0, N - GB + 1, GB):
            r0 = b + rank * per
            x, y = xs[r0:r0 + per], ys[r0:r0 + per]
            loss = F.nll_loss(F.log_softmax(net(x), dim=1), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        dt = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(dt)
        best = min(best, dt.item() / world)
    if rank == 0:
        print(f"torch DDP mlp epoch, global batch {GB}: {world} x {per} rows x 1 thread, gloo, "
              f"last loss {loss.item():.4f}, torch {torch.__version__}")
        print(f"time_s: {best:.6f}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    world = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    bucket = float(sys.argv[3]) if len(sys.argv) > 3 else 25
    port = 29500 + os.getpid() % 1000
    if world == 1:
        run(0, 1, epochs, bucket, port)
    else:
        mp.spawn(run, args=(world, epochs, bucket, port), nprocs=world, join=True)
