#!/usr/bin/env bash
# demo.sh — installs what is missing, builds nabla, and runs the flagship demo:
# training on Fashion-MNIST (Debian's dataset-fashion-mnist) with a progress
# bar and curves. A short run by default; ./demo.sh --full for the full one.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/deps.sh
nb_install_deps
# OpenMP workers that spin while waiting steal the core the work needs on a
# busy machine; sleeping waiters cost nothing measurable on an idle one.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
mkdir -p out   # curves (CSV, SVG) and checkpoints go here; a later --out DIR wins
exec build/tutorials/fashion_mnist --out out "$@"
