#!/usr/bin/env bash
# bench/dist.sh — data-parallel training (bench_dist.c): epoch times,
# the overlap of gradient allreduces with backward, and the scaling model of
# docs/dist.md from the measured points.
#   bench/dist.sh [BUILD_DIR] [EPOCHS] [ROUNDS]
#     (default build-bench, best of 3 epochs, 3 alternating rounds of the
#     overlap runs, medians printed)
# 1. bench_mlp's epoch as 1 process x 1 thread, 1 process x 2 threads and
#    2 ranks x 1 thread (25 MB buckets: one; 0.1 MB buckets: four).
# 2. Overlap, 2 ranks x 1 thread, the MLP (200 steps) and the demo's CNN (60
#    steps), buckets of 25 MB (DDP's default: one bucket, which can only start
#    when backward ends) and 0.1 MB (several), progress off / nodes / thread
#    (nabla/dist.h nb_ddp_progress), run alternately ROUNDS times.
# 3. The model: time per step vs ranks, for 1-64 machines. Environment:
#    NB_BW_GBS (network GB/s, default 1.25 = 10 Gb Ethernet) and NB_ALPHA_US
#    (latency per ring step, default 25 us).
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
epochs=${2:-3}
rounds=${3:-3}
if [ ! -d "$build" ]; then meson setup "$build" -Dbuildtype=release >/dev/null || exit 1; fi
ninja -C "$build" bench/bench_dist >/dev/null || exit 1
B=$build/bench/bench_dist
command -v mpirun >/dev/null || { echo "mpirun not found (bash .ci/deps.sh libopenmpi-dev openmpi-bin)"; exit 1; }
# Open MPI refuses root without these; only for this script's runs
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
export OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
key() { grep "^$1:" | awk '{print $2}'; }

echo "# $(date -u +%F\ %T) UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
o11=$(NB_NUM_THREADS=1 $B "$epochs"); t11=$(key time_s <<<"$o11")
o12=$(NB_NUM_THREADS=2 $B "$epochs"); t12=$(key time_s <<<"$o12")
o21=$(NB_NUM_THREADS=1 mpirun -np 2 $B "$epochs"); t21=$(key time_s <<<"$o21")
o21b=$(NB_NUM_THREADS=1 mpirun -np 2 $B "$epochs" 0.1); t21b=$(key time_s <<<"$o21b")
printf '%s\n' "$o11" "$o12" "$o21" "$o21b" | grep -v '^time_s' | sed 's/^/  /'
printf 'epoch: 1 process x 1 thread %.3f s | 1 process x 2 threads %.3f s | 2 ranks x 1 thread %.3f s (1 bucket), %.3f s (0.1 MB buckets)\n' \
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

# 2. overlap: every configuration once per round, the rounds alternating
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cfgs="mlp:200:25 mlp:200:0.1 cnn:60:25 cnn:60:0.1"
for r in $(seq "$rounds"); do
  for cfg in $cfgs; do
    IFS=: read -r model steps cap <<<"$cfg"
    for mode in off nodes thread; do
      NB_NUM_THREADS=1 NB_DDP_PROGRESS=$mode mpirun -np 2 $B 1 "$cap" "$model" "$steps" >>"$tmp/$model-$cap-$mode"
    done
  done
done
# 1-process compute per step of the CNN (for the model below)
c1cnn=$(NB_NUM_THREADS=1 $B 1 25 cnn 60 | key step_cpu_ms)
echo "overlap, 2 ranks x 1 thread, medians of $rounds alternating runs (ms per step; backward wall and process CPU;"
echo "exposed = the last rank's end of backward to the last rank's gradients averaged; total = the same buckets alone):"
printf '%-5s %-14s %-7s %10s %9s %9s %8s %8s %12s %14s\n' model buckets progress "step" backward bwd_cpu exposed total overlap "done_b4_wait"
med() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
for cfg in $cfgs; do
  IFS=: read -r model steps cap <<<"$cfg"
  for mode in off nodes thread; do
    f=$tmp/$model-$cap-$mode
    nbk=$(grep -o '[0-9]* buckets\? (' "$f" | head -1 | awk '{print $1}')
    printf '%-5s %-14s %-7s %10.3f %9.3f %9.3f %8.3f %8.3f %12.2f %14s\n' "$model" "$cap MB ($nbk)" "$mode" \
      "$(key step_ms <"$f" | med)" "$(key backward_ms <"$f" | med)" "$(key backward_cpu_ms <"$f" | med)" \
      "$(key exposed_ms <"$f" | med)" "$(key total_ms <"$f" | med)" "$(key overlap <"$f" | med)" \
      "$(key buckets_done_before_wait <"$f" | med) of $nbk"
  done
done
fmlp=$(key overlap <"$tmp/mlp-0.1-thread" | med)
fcnn=$(key overlap <"$tmp/cnn-0.1-thread" | med)
Smlp=$(grep -o 'of [0-9.]* MB' "$tmp/mlp-0.1-thread" | head -1 | awk '{print $2 * 1e6}')
Scnn=$(grep -o 'of [0-9.]* MB' "$tmp/cnn-0.1-thread" | head -1 | awk '{print $2 * 1e6}')
s21=$(key step_ms <"$tmp/cnn-0.1-thread" | med)

# 3. The model: per step, compute c(n) = c1/n (strong scaling, global batch
# 64) or c1 (weak: 64 rows per rank), and a ring allreduce of S bytes:
# 2(n-1)/n * S / BW + 2(n-1) * alpha, of which the measured overlap f hides
# the fraction f (never more than the compute it hides behind). c1 is the
# 1-process CPU time per step: on a loaded machine wall time measures the
# other jobs; on an idle one the two agree (one thread).
steps=937
model() { # name c1_s S f measured_2rank_ms
  awk -v name="$1" -v c1="$2" -v S="$3" -v f="$4" -v m2="$5" -v bw="${NB_BW_GBS:-1.25}" -v a="${NB_ALPHA_US:-25}" 'BEGIN {
    if (f < 0) f = 0;
    printf "model, %s: compute %.3f ms/step on 1 rank (measured, CPU time), gradients %.2f MB, network %.3g GB/s, %g us per ring step, overlap %.2f (measured, 0.1 MB buckets)\n",
      name, 1e3 * c1, S / 1e6, bw, a, f;
    printf "%6s %14s %14s %12s %14s %14s\n", "ranks", "strong ms/step", "strong speedup", "exposed ms", "weak ms/step", "weak efficiency";
    for (n = 1; n <= 64; n *= 2) {
      comm = n > 1 ? 2 * (n - 1) / n * S / (bw * 1e9) + 2 * (n - 1) * a * 1e-6 : 0;
      hs = f * comm; if (hs > c1 / n) hs = c1 / n; hw = f * comm; if (hw > c1) hw = c1;
      strong = c1 / n + comm - hs; weak = c1 + comm - hw;
      printf "%6d %14.3f %14.2f %12.3f %14.3f %14.2f\n", n, 1e3 * strong, c1 / strong, 1e3 * (comm - hs), 1e3 * weak, c1 / weak }
    if (m2 > 0) printf "measured on this machine (shared memory, not a network): 2 ranks %.3f ms/step, speedup %.2f\n", m2, 1e3 * c1 / m2 }'
}
model "mlp 784-256-128-10" "$(key step_cpu_ms <<<"$o11" | awk '{print $1 / 1e3}')" "$Smlp" "${fmlp:-0}" \
  "$(awk -v t="$t21b" -v s=$steps 'BEGIN {print 1e3 * t / s}')"
model "cnn 1-16-32 fc1568-128-10" "$(awk -v c="$c1cnn" 'BEGIN {print c / 1e3}')" "$Scnn" "${fcnn:-0}" "$s21"
