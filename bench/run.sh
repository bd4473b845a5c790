#!/usr/bin/env bash
# bench/run.sh — builds the benchmarks and runs each beside its PyTorch twin.
#   bench/run.sh [BUILD_DIR] [gemm|xor|mlp|cnn|conv|overhead|gradcheck|eltwise|lstm|hvp|tfops|dist|gpt|losses ...]   (default: build-bench, all but eltwise, hvp, dist, losses)
#   ROUNDS=N: the paired benchmarks run N rounds and keep each figure's best
#   BENCH_MALLOC=default: glibc's malloc settings as they come (below)
# Each program prints "time_s: <seconds>". nabla runs with NB_NUM_THREADS=1 and
# =2, PyTorch (/usr/bin/python3, torch 1.13) with 1 thread and with 2 threads +
# OMP_WAIT_POLICY=PASSIVE; the ratio is nabla's best over PyTorch's best, both
# measured in this one invocation. nabla's 2-thread run keeps libgomp's default
# waiting (a worker spins a little after a region, then sleeps), as a user gets
# it: nabla never runs its OpenMP loops and BLAS threads at once, so its
# spinning workers take no core that work needs (PyTorch's do, which is why
# it runs PASSIVE). PASSIVE would cost nabla ~25 us per parallel region here
# (wake + join) against ~2 us, on regions of 50-100 us in the MLP.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
shift || true
which=${*:-gemm xor mlp cnn conv overhead gradcheck lstm}
py=/usr/bin/python3
unset OMP_WAIT_POLICY # nabla's runs: libgomp's default (above); PyTorch's set it per run
# glibc's malloc for both sides: blocks up to 32 MiB from the heap, and freed
# memory kept rather than given back to the kernel. By default a block over
# the (dynamic) mmap threshold is mapped fresh and unmapped on free, so a
# program that allocates its tensors anew every step (PyTorch) takes a page
# fault per 4 KiB of them every step; on a virtual machine where faults are
# dear that was 40% of PyTorch's GPT step (230 -> 118 ms). The ratios are
# against PyTorch at its best, so it runs with them; nabla (its own arena)
# runs with the same. BENCH_MALLOC=default: glibc's defaults.
if [ "${BENCH_MALLOC:-}" != default ]; then
  export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296
fi
if [ ! -d "$build" ]; then meson setup "$build" -Dbuildtype=release >/dev/null || exit 1; fi
ninja -C "$build" >/dev/null || { ninja -C "$build" | tail -20; exit 1; }
B=$build/bench

t_of() { grep '^time_s:' | awk '{print $2}'; }
rss_of() { grep '^rss_mib:' | awk '{print $2}'; }

# pair NAME "nabla command" "python command": ROUNDS (default 1) rounds, each
# running the four commands in turn; every figure is its best over the
# rounds, so on a shared machine a run that was preempted does not decide the
# ratio (ROUNDS=3 or more there).
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
pair() {
  local name=$1 nb=$2 pt=$3 out n1= n2= p1= p2= r
  for ((r = 0; r < ${ROUNDS:-1}; r++)); do
    out=$(NB_NUM_THREADS=1 eval "$nb"); n1=$(min_of "$n1" "$(t_of <<<"$out")")
    [ "$r" = 0 ] && echo "$out" | grep -v '^time_s' | sed 's/^/  nabla: /'
    n2=$(min_of "$n2" "$(NB_NUM_THREADS=2 eval "$nb" | t_of)")
    out=$(OMP_NUM_THREADS=1 eval "$pt"); p1=$(min_of "$p1" "$(t_of <<<"$out")")
    [ "$r" = 0 ] && echo "$out" | grep -v '^time_s' | sed 's/^/  torch: /'
    p2=$(min_of "$p2" "$(OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE eval "$pt" | t_of)")
  done
  awk -v name="$name" -v n1="$n1" -v n2="$n2" -v p1="$p1" -v p2="$p2" -v r="${ROUNDS:-1}" 'BEGIN {
    nb = n1 < n2 ? n1 : n2; pb = p1 < p2 ? p1 : p2;
    printf "%-10s nabla %.4g s (1 thr) %.4g s (2 thr) | torch %.4g s (1 thr) %.4g s (2 thr, passive) | nabla/torch = %.3f%s\n",
      name, n1, n2, p1, p2, nb / pb, (r > 1 ? " (best of " r " rounds)" : "") }'
}

# cases PREFIX "nabla command" "python command": programs printing lines
# "case: NAME fwd_s F fwdbwd_s FB"; per case each side's best thread setting
# per figure, nabla/torch for fwd and fwd+bwd, and bwd/fwd on each side.
cases() {
  local pre=$1 nb=$2 pt=$3 n1 n2 p1 p2
  n1=$(NB_NUM_THREADS=1 eval "$nb"); n2=$(NB_NUM_THREADS=2 eval "$nb")
  p1=$(OMP_NUM_THREADS=1 eval "$pt"); p2=$(OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE eval "$pt")
  { printf '%s\n' "$n1" "$n2" | sed 's/^/nb /'; printf '%s\n' "$p1" "$p2" | sed 's/^/pt /'; } | awk -v pre="$pre" '
    $2 == "case:" { k = $1 SUBSEP $3; if (!(k in f) || $5 < f[k]) f[k] = $5; if (!(k in fb) || $7 < fb[k]) fb[k] = $7;
                    if ($1 == "nb" && !($3 in seen)) { seen[$3] = 1; order[++n] = $3 } }
    END { for (i = 1; i <= n; i++) { c = order[i]; nf = f["nb", c]; nfb = fb["nb", c]; pf = f["pt", c]; pfb = fb["pt", c];
            printf "%-12s fwd nabla %.3g ms torch %.3g ms (%.3f) | fwd+bwd nabla %.3g ms torch %.3g ms (%.3f) | bwd/fwd nabla %.2f torch %.2f\n",
              pre c, 1e3 * nf, 1e3 * pf, nf / pf, 1e3 * nfb, 1e3 * pfb, nfb / pfb, (nfb - nf) / nf, (pfb - pf) / pf } }'
}

echo "# $(date -u +%F\ %T) UTC, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg), malloc ${BENCH_MALLOC:-tuned}"
for w in $which; do
  case $w in
  gemm)
    echo "== GEMM f32 (built-in vs OpenBLAS, OPENBLAS_CORETYPE=SkylakeX: AVX-512 against AVX-512)"
    OPENBLAS_CORETYPE=SkylakeX $B/bench_gemm 64 256 1024 2048
    ;;
  xor) pair xor-step "$B/bench_xor 20000" "$py bench/bench_xor.py 4000" ;;
  mlp)
    pair mlp-epoch "$B/bench_mlp" "$py bench/bench_mlp.py"
    rn=$(NB_NUM_THREADS=1 $B/bench_mlp 1 20 | rss_of); rp=$(OMP_NUM_THREADS=1 $py bench/bench_mlp.py 1 20 | rss_of)
    awk -v a="$rn" -v b="$rp" 'BEGIN { printf "mlp-rss    nabla %.0f MiB | torch %.0f MiB | nabla/torch = %.3f\n", a, b, a / b }'
    ;;
  cnn) pair cnn-epoch "$B/bench_cnn" "$py bench/bench_cnn.py" ;;
  conv) cases conv- "$B/bench_conv" "$py bench/bench_conv.py" ;;
  eltwise) cases ew- "$B/bench_eltwise" "$py bench/bench_eltwise.py" ;;
  losses) cases loss- "$B/bench_losses" "$py bench/bench_losses.py" ;;
  tfops) cases tf- "$B/bench_tfops" "$py bench/bench_tfops.py" ;;
  overhead) pair add-op "$B/bench_overhead" "$py bench/bench_overhead.py" ;;
  gradcheck) pair gradcheck "$B/bench_gradcheck" "$py bench/bench_gradcheck.py" ;;
  lstm)
    pair lstm-step "$B/bench_lstm lstm" "$py bench/bench_lstm.py lstm"
    pair gru-step "$B/bench_lstm gru" "$py bench/bench_lstm.py gru"
    NB_NUM_THREADS=1 $B/bench_lstm lstm soak 10000 | grep '^soak'
    ;;
  hvp) # HVP cost / gradient cost on each side (theory 2-4), 1 thread each
    hn=$(NB_NUM_THREADS=1 $B/bench_hvp); hp=$(OMP_NUM_THREADS=1 $py bench/bench_hvp.py)
    echo "$hn" | grep '^hvp ' | sed 's/^/  nabla: /'; echo "$hp" | grep '^hvp ' | sed 's/^/  torch: /'
    awk -v a="$(grep '^hvp_over_grad' <<<"$hn" | awk '{print $2}')" -v b="$(grep '^hvp_over_grad' <<<"$hp" | awk '{print $2}')" \
      -v c="$(grep '^hvp_s' <<<"$hn" | awk '{print $2}')" -v d="$(grep '^hvp_s' <<<"$hp" | awk '{print $2}')" \
      'BEGIN { printf "hvp        hvp/grad nabla %.2f | torch %.2f | hvp time nabla/torch = %.3f\n", a, b, c / d }'
    ;;
  dist) bash bench/dist.sh "$build" ;; # ranks vs threads, allreduce overlap, scaling model
  gpt) pair gpt-step "$B/bench_gpt ${GPT_STEPS:-20}" "$py bench/bench_gpt.py ${GPT_STEPS:-20}" ;;
  *) echo "unknown benchmark $w"; exit 2 ;;
  esac
done
