#!/usr/bin/env bash
# GPU check (issue 7): on a machine with one GPU, run the sft, grpo and generate stages on a random-init
# ~0.5B Qwen2 in bf16 (built from a config here, no hub) and print tokens/s, peak GPU memory beside the
# fit check's estimate, and the stop-token behaviour. No network: packages the machine lacks come as
# wheels in .whl/ (see bench/gpu_check.py for the list), installed into a private folder first.
#
#   bash bench/gpu_check.sh                       # the 0.5B check (GPU)
#   GPU_CHECK_MODEL=tiny bash bench/gpu_check.sh  # the same flow on a tiny model (CPU, a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
SITE="${GPU_CHECK_SITE:-/tmp/site}"
PY="${PYTHON:-python3}"
if [ -z "${GPU_CHECK_NO_WHEELS:-}" ] && compgen -G ".whl/*.whl" > /dev/null; then
  if ! "$PY" -m pip install --quiet --no-index --no-deps --upgrade --target "$SITE" .whl/*.whl; then
    echo "gpu_check: installing .whl/ into $SITE failed (the wheels are for CPython 3.12 on x86_64 Linux)" >&2
    exit 3
  fi
fi
export PYTHONPATH="$SITE:$PWD" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export TRANSFORMERS_NO_ADVISORY_WARNINGS=1
exec "$PY" "${GPU_CHECK_SCRIPT:-bench/gpu_check.py}" "$@"
