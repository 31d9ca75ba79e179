#!/usr/bin/env bash
# The GPU check: grade the examples with --device gpu on a machine with an NVIDIA GPU and a CUDA
# build of JAX, with every sandbox layer, then with layers switched off one by one, to see which
# a GPU worker needs. Offline: wheels for matgrade's other dependencies in .whl/ (see README).
# Usage: bash benchmarks/gpu_check.sh [OUTPUT_FOLDER]
set -u
out=${1:-${OUT:-/tmp/matgrade-gpu-check}}
mkdir -p "$out"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps .whl/*.whl 2>&1 | tail -3; fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | tail -3
nvidia-smi -L
python3 -c "import jax; print('jax', jax.__version__, jax.devices('gpu'))"
export MATGRADE_SECRET=gpu-check MATGRADE_CACHE_DIR=/tmp/matgrade-gpu-cache PYTHONUNBUFFERED=1
for disabled in none landlock landlock,seccomp; do
    echo "== --disable-layers $disabled"
    options=()
    if [ "$disabled" != none ]; then options=(--disable-layers "$disabled"); fi
    SECONDS=0
    timeout 150 python3 -m grader.cli submissions_example/good.ipynb --device gpu \
        --out "$out/good-$disabled" "${options[@]}" 2>&1 | tail -25
    echo "rc=${PIPESTATUS[0]} seconds=$SECONDS"
    if grep -q '"device": "gpu' "$out/good-$disabled/good.json" 2>/dev/null; then break; fi
done
grep -h '"device"\|"level"\|"total"' "$out"/good-*/good.json 2>/dev/null | sort | uniq -c
echo "== the example folder, -j 4, on the GPU"
SECONDS=0
timeout 150 python3 -m grader.cli submissions_example/ -j 4 --device gpu --out "$out/folder" \
    "${options[@]}" 2>&1 | tail -12
echo "rc=${PIPESTATUS[0]} seconds=$SECONDS"
