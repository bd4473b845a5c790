#!/usr/bin/env bash
# tests/run_mpi.sh — runs tests/test_dist under mpirun.
#   run_mpi.sh TEST_DIST NP train        W ranks train and compare with one process
#   run_mpi.sh TEST_DIST NP fault MODE   a rank fails: the job must end within the
#                                        bound with a clear message, and (kill) the last
#                                        checkpoint must load
# NP > cores runs oversubscribed. Exits 0 with a message when mpirun is missing
# (libopenmpi-dev without openmpi-bin): MPI is optional, and CI counts a skip as a failure.
set -u
exe=$1 np=$2 what=$3
command -v mpirun >/dev/null || { echo "mpirun not found: nothing to run (install openmpi-bin)"; exit 0; }
# Open MPI refuses to start as root unless told; for these tests only (CI runs as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# quiet, local, no network probing: shared memory and loopback only
export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_hwloc_base_binding_policy=none
export PRTE_MCA_rmaps_default_mapping_policy=:oversubscribe
export NB_NUM_THREADS=1
# Under AddressSanitizer: Open MPI's plugins (dlclose'd, so no suppression can
# name them) leak at exit; memory errors are still caught, and test_dist train
# checks that nabla's own heap is flat.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mpi=(mpirun -np "$np" --oversubscribe)

if [ "$what" = train ]; then
  # nabla picks the threads per rank itself (test_dist checks ranks x threads <= cores)
  timeout 300 env -u NB_NUM_THREADS "${mpi[@]}" "$exe" train "$dir"
  exit $?
fi

mode=$4
bound=30 # seconds the whole failed job may take
t0=$(date +%s)
NB_DIST_TIMEOUT=5 timeout 120 "${mpi[@]}" "$exe" fault "$mode" "$dir" >"$dir/out" 2>&1
rc=$? t=$(( $(date +%s) - t0 ))
cat "$dir/out"
echo "== fault $mode: exit $rc after ${t}s"
fail() { echo "FAIL: $*"; exit 1; }
[ $rc -ne 0 ] || fail "the job succeeded although rank 1 failed"
[ $rc -ne 124 ] || fail "the job hung (killed by timeout after 120 s)"
[ $t -le $bound ] || fail "the job took ${t}s, more than ${bound}s"
case $mode in
  kill)    grep -Eq "signal 9|Killed" "$dir/out" || fail "no message naming the killed rank" ;;
  stuck)   grep -q "no answer from the other ranks after 5 s" "$dir/out" || fail "no timeout message" ;;
  badfile) grep -q "rank 1 of $np: .*no-such-shard-1.csv" "$dir/out" || fail "no message naming the file" ;;
  twice)   grep -q "backward ran again before nb_ddp_wait" "$dir/out" || fail "no message naming the misuse" ;;
esac
if [ "$mode" = kill ] || [ "$mode" = stuck ]; then
  "$exe" load "$dir/fault.ckpt" || fail "the last checkpoint does not load"
fi
echo "ok"
