#!/usr/bin/env bash
# The overhead benchmark on a CUDA machine (the device tool's H100/H200): resnet50 -> resnet18, 64x64, bs 256,
# 100 classes, synthetic data, in bf16 autocast and in fp32, plus the 1-epoch memory runs: img/s and peak memory of
# plain / KD / KD cached / KD with a compiled teacher / hints / AT, the teacher eager, compiled and channels-last.
#
# The device machine has torch, torchvision and timm but not fastai: carry wheels in .whl/ (git-ignored), made here with
#   bash bench/gpu.sh --download
# then run there (one call, ~5 minutes):   bash bench/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="fastai==2.8.12 fastcore fasttransform plum-dispatch beartype fastdownload fastprogress==1.0.3 accelerate fasterai==0.4.1 torch-pruning einops"
if [ "${1:-}" = "--download" ]; then
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $WHEELS
  exit 0
fi
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 bench/gpu_checks.py
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"
python3 bench/overhead.py --device cuda --bf16 --arch resnet --repeats 3 --out "${OUT:-/tmp}/benchmark_overhead_gpu.json"
python3 bench/overhead.py --device cuda --arch resnet --repeats 3 --out "${OUT:-/tmp}/benchmark_overhead_gpu_fp32.json"
