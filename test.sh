#!/usr/bin/env bash
# test.sh — installs what is missing, builds nabla, and runs every test:
# the default build, then an AddressSanitizer/UndefinedBehaviorSanitizer
# build, then a clang build with -Werror (compile only). Ends with
# "N passed, N failed". Usage: ./test.sh [--quick]   (--quick: default build only)
# NB_FUZZ_SECONDS=N also runs each libFuzzer target N s (.ci/run sets 60).
set -uo pipefail
cd "$(dirname "$0")"
source .ci/deps.sh
nb_install_deps
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
logs=()
extra=()
fail=0

run_build() { # dir, meson args...
  local dir=$1; shift
  if [ ! -d "$dir" ]; then meson setup "$dir" "$@" >/dev/null || return 1; fi
  ninja -C "$dir" >/dev/null || { ninja -C "$dir" | tail -30; return 1; }
  meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/test-output.txt" 2>&1
  local rc=$?
  grep -E "^ *[0-9]+/[0-9]+ " "$dir/test-output.txt"
  logs+=("$dir/meson-logs/testlog.json")
  return $rc
}

echo "== default build (gcc, -Wall -Wextra)"
run_build build || fail=1
if [ "${1:-}" != "--quick" ]; then
  echo "== sanitizer build (address, undefined)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_build build-asan -Db_sanitize=address,undefined -Db_lundef=false || fail=1
  # Two and four threads training independent models, under
  # ThreadSanitizer. nabla is built without OpenMP there (GNU libgomp's
  # barriers are invisible to TSan, which then reports false races) and
  # without OpenBLAS: what is checked is nabla's per-thread state.
  echo "== thread sanitizer build (test_threads, test_use_after_scope; no OpenMP, no BLAS)"
  if [ ! -d build-tsan ]; then
    meson setup build-tsan -Db_sanitize=thread -Dopenmp=disabled -Dblas=disabled -Db_lundef=false >/dev/null || fail=1
  fi
  if ninja -C build-tsan tests/test_threads tests/test_use_after_scope >/dev/null; then
    TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1} meson test -C build-tsan --no-rebuild --print-errorlogs test_threads test_use_after_scope \
      >build-tsan/test-output.txt 2>&1 || fail=1
    grep -E "^ *[0-9]+/[0-9]+ " build-tsan/test-output.txt
    logs+=("build-tsan/meson-logs/testlog.json")
  else
    ninja -C build-tsan tests/test_threads | tail -20; extra+=("--extra=tsan build=fail"); fail=1
  fi
  # valgrind: the standard command (--leak-check=full --error-exitcode=1)
  # on a few programs, threads included (tests/valgrind.py runs them all).
  if command -v valgrind >/dev/null; then
    echo "== valgrind on a few programs"
    for p in tutorials/01_computational_graph tutorials/02_chain_rule tests/test_threads tests/test_csv_rules; do
      n=$(basename "$p")
      if NB_NUM_THREADS=1 valgrind --leak-check=full --error-exitcode=1 -q "build/$p" >"build/valgrind-$n.txt" 2>&1; then
        echo "valgrind $n: clean"; extra+=("--extra=valgrind $n=ok")
      else
        echo "valgrind $n: FAILED, see build/valgrind-$n.txt"; extra+=("--extra=valgrind $n=fail"); fail=1
      fi
    done
  fi
  echo "== clang build (-Werror, compile only)"
  if [ ! -d build-clang ]; then CC=clang meson setup build-clang -Dwerror=true >/dev/null; fi
  if ninja -C build-clang >/dev/null; then extra+=("--extra=clang -Werror build=ok"); echo "clang: warning-free"
  else ninja -C build-clang | tail -20; extra+=("--extra=clang -Werror build=fail"); fi
fi
if [ "${NB_FUZZ_SECONDS:-0}" -gt 0 ]; then # fuzz/README.md: each target for NB_FUZZ_SECONDS s (.ci/run: 60)
  echo "== fuzz (${NB_FUZZ_SECONDS} s per target, clang libFuzzer + ASan/UBSan)"
  if [ ! -d build-fuzz ]; then CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null; fi
  if ! ninja -C build-fuzz >/dev/null; then ninja -C build-fuzz | tail -20; extra+=("--extra=fuzz build=fail"); fail=1; fi
  for t in fuzz_idx fuzz_idx_gz fuzz_csv fuzz_checkpoint fuzz_safetensors; do
    [ -x "build-fuzz/fuzz/$t" ] || continue
    mkdir -p "build-fuzz/corpus/$t"
    if build-fuzz/fuzz/$t -max_total_time="$NB_FUZZ_SECONDS" -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="build-fuzz/$t-" "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/$t.log" 2>&1; then
      echo "$t: ok, $(grep -o 'number_of_executed_units: *[0-9]*' "build-fuzz/$t.log" | grep -o '[0-9]*$') executions, no finding"
      extra+=("--extra=$t (${NB_FUZZ_SECONDS} s)=ok")
    else
      echo "$t: FINDING or failure, see build-fuzz/$t.log and build-fuzz/$t-*"; tail -40 "build-fuzz/$t.log"
      extra+=("--extra=$t (${NB_FUZZ_SECONDS} s)=fail"); fail=1
    fi
  done
fi
python3 .ci/count_tests.py "${extra[@]}" "${logs[@]}" || fail=1
exit $fail
