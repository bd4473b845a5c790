#!/usr/bin/env bash
# tests/test_safetensors_torch.sh TEST_SAFETENSORS SOURCE_ROOT — nabla's
# safetensors files load into the torch models: runs test_safetensors (which
# writes nabla_mlp/nabla_cnn.safetensors with nabla's outputs as io.y) into a
# temporary directory, then, where PyTorch is installed (/usr/bin/python3),
# loads each into the torch model (strict) and compares the outputs.
# Without PyTorch it says so and passes: the committed torch-written files are
# checked by test_safetensors on every run.
set -euo pipefail
exe=$1 root=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
NB_ST_OUT=$dir "$exe" >"$dir/log" 2>&1 || { cat "$dir/log"; exit 1; }
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "PyTorch not installed: the torch-side load of nabla's files is not checked here"
  exit 0
fi
for m in mlp cnn; do
  /usr/bin/python3 "$root/tests/fixtures/gen_safetensors.py" --check "$dir/nabla_$m.safetensors" "$m"
done
