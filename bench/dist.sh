#!/usr/bin/env bash
# bench/dist.sh — data-parallel MLP epoch (bench_dist.c) and the
# scaling model of docs/dist.md from the measured points.
#   bench/dist.sh [BUILD_DIR] [EPOCHS]      (default build-bench, 3 epochs: best of 3)
# Runs: 1 process x 1 thread, 1 process x 2 threads, 2 ranks x 1 thread (one
# bucket, as DDP's 25 MB default, and 0.3 MB buckets: two, the small one started
# during backward). Environment for the model: NB_BW_GBS (network GB/s, default
# 1.25 = 10 Gb Ethernet) and NB_ALPHA_US (latency per ring step, default 25 us).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
epochs=${2:-3}
if [ ! -d "$build" ]; then meson setup "$build" -Dbuildtype=release >/dev/null || exit 1; fi
ninja -C "$build" bench/bench_dist >/dev/null || exit 1
B=$build/bench/bench_dist
command -v mpirun >/dev/null || { echo "mpirun not found (bash .ci/deps.sh libopenmpi-dev openmpi-bin)"; exit 1; }
# Open MPI refuses root without these; only for this script's runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
key() { grep "^$1:" | awk '{print $2}'; }

echo "# $(date -u +%F\ %T) UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
o11=$(NB_NUM_THREADS=1 $B "$epochs"); t11=$(key time_s <<<"$o11")
o12=$(NB_NUM_THREADS=2 $B "$epochs"); t12=$(key time_s <<<"$o12")
o21=$(NB_NUM_THREADS=1 mpirun -np 2 $B "$epochs"); t21=$(key time_s <<<"$o21")
o21b=$(NB_NUM_THREADS=1 mpirun -np 2 $B "$epochs" 0.3); t21b=$(key time_s <<<"$o21b")
printf '%s\n' "$o11" "$o12" "$o21" "$o21b" | grep -v '^time_s' | sed 's/^/  /'
printf 'epoch: 1 process x 1 thread %.3f s | 1 process x 2 threads %.3f s | 2 ranks x 1 thread %.3f s (1 bucket), %.3f s (0.3 MB buckets)\n' \
  "$t11" "$t12" "$t21" "$t21b"
# the PyTorch twin (DistributedDataParallel, gloo over loopback), 1 epoch each
py=/usr/bin/python3
if $py -c 'import torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null; then
  p1=$(OMP_NUM_THREADS=1 $py bench/bench_dist.py 1 1 | key time_s)
  p2=$(OMP_NUM_THREADS=1 $py bench/bench_dist.py 2 1 | key time_s)
  awk -v n1="$t11" -v n2="$t21" -v p1="$p1" -v p2="$p2" 'BEGIN {
    printf "torch: 1 process x 1 thread %.3f s | 2 ranks DDP x 1 thread %.3f s | nabla/torch = %.3f (1 process), %.3f (2 ranks)\n",
      p1, p2, n1 / p1, n2 / p2 }'
fi

# The model: per step, compute c(n) = c1 * 64/n rows scaled (strong scaling,
# global batch 64) or c1 (weak: 64 rows per rank), and a ring allreduce of S
# bytes: 2(n-1)/n * S / BW + 2(n-1) * alpha, of which the fraction f the
# measured overlap hides.
steps=937
S=$(key allreduce_alone_ms <<<"$o21" >/dev/null; grep -o 'of [0-9.]* MB' <<<"$o21" | awk '{print $2 * 1e6}')
f=$(key overlap <<<"$o21b")
awk -v t11="$t11" -v steps=$steps -v S="$S" -v f="${f:-0}" -v bw="${NB_BW_GBS:-1.25}" -v a="${NB_ALPHA_US:-25}" \
    -v t21="$t21" 'BEGIN {
  c1 = t11 / steps;
  printf "model: compute %.3f ms/step on 1 rank (measured), gradients %.2f MB, network %.3g GB/s, %g us per ring step, overlap %.2f (measured)\n",
    1e3 * c1, S / 1e6, bw, a, f;
  printf "%6s %14s %14s %12s %14s %14s\n", "ranks", "strong ms/step", "strong speedup", "comm ms", "weak ms/step", "weak efficiency";
  for (n = 1; n <= 64; n *= 2) {
    comm = n > 1 ? (2 * (n - 1) / n * S / (bw * 1e9) + 2 * (n - 1) * a * 1e-6) * (1 - f) : 0;
    strong = c1 / n + comm; weak = c1 + comm;
    printf "%6d %14.3f %14.2f %12.3f %14.3f %14.2f\n", n, 1e3 * strong, c1 / strong, 1e3 * comm, 1e3 * weak, c1 / weak }
  printf "measured on this machine (shared memory, not a network): 2 ranks %.3f ms/step, speedup %.2f\n",
    1e3 * t21 / steps, t11 / t21 }'
