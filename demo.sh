#!/usr/bin/env bash
# demo.sh — installs what is missing, builds nabla, and runs the flagship demo:
# training on Fashion-MNIST (Debian's dataset-fashion-mnist) with a progress
# bar and curves. A short run by default; ./demo.sh --full for the full one.
set -euo pipefail
cd "$(dirname "$0")"
source .ci/deps.sh
nb_install_deps
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
if [ -x build/tutorials/fashion_mnist ]; then
  exec build/tutorials/fashion_mnist "$@"
else
  echo "(the Fashion-MNIST demo is not built yet; running tutorial 03, the XOR network)"
  exec build/tutorials/03_xor
fi
