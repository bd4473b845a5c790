#!/usr/bin/env bash
# .ci/deps.sh — installs the Debian packages nabla needs, only those missing.
# Sourced by test.sh and demo.sh; usable alone: bash .ci/deps.sh [extra packages]
nb_install_deps() {
  local want=(meson ninja-build pkg-config gcc clang libclang-rt-dev libsleef-dev libxxhash-dev zlib1g-dev
              libopenblas-dev libjansson-dev libcmocka-dev libomp-dev graphviz dataset-fashion-mnist
              libopenmpi-dev openmpi-bin chromium "$@")
  local missing=()
  for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then nb_install_deps "$@"; fi
