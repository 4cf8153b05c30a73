#!/usr/bin/env bash
# Wheels for benchmarks/gpu_reference.sh, made here (with network) for the GPU machine (Python 3.12, x86-64,
# no network): pure-Python packages ftax needs at measure time that its image lacks. The image (see the device
# notes' package list) already holds every measure-time dependency of requirements.txt (torch, transformers,
# numpy, scipy, pandas, pyyaml, tqdm, python-dateutil, onnx, onnxruntime, pytest), so by default this fetches
# nothing but what is named: e.g. `benchmarks/make_wheels.sh zeus pydantic pydantic-core tyro` for energy.
# Pins come from requirements.txt where it names the package. Usage: benchmarks/make_wheels.sh [NAME ...]
set -euo pipefail
cd "$(dirname "$0")/.."
DEST="${WHEELS:-.whl}"
PIP="${PIP:-.venv/bin/python -m pip}"
mkdir -p "$DEST"
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
for name in "$@"; do
  pin=$(grep -i "^${name}==" requirements.txt || true)
  $PIP download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" "${pin:-$name}"
done
ls -la "$DEST"
