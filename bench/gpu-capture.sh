#!/usr/bin/env bash
# GPU check of the capture agent (issue 11 item 4): exact counts under eager, torch.compile and CUDA
# graphs on the machine's own torch/transformers, and step-time overhead (agent vs none, alternating,
# >= 30 pairs, 95% CI). Results as `RESULT {...}` lines; record them in bench/RESULTS.md.
#
#   bench/gpu-capture.sh              on a GPU machine (under 8 minutes)
#   bench/gpu-capture.sh --dry-run    on CPU: exercises the script, claims no GPU figures
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [[ "${1:-}" != "--dry-run" ]] && ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "no CUDA device visible to $PY; use --dry-run" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || true
exec timeout 480 "$PY" bench/gpu_capture.py "$@"
