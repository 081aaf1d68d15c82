#!/usr/bin/env bash
# GPU check: on a machine with one GPU, run the sft, grpo and generate stages on a random-init ~0.5B Qwen2
# in bf16 (built from a config here, no hub) and print tokens/s, peak GPU memory split into between-steps
# and batch beside the fit check's estimate, the grpo stage against a plain TRL GRPOTrainer script on the
# same config (throughput ratio, same call), and the stop-token behaviour. No network: packages the machine
# lacks come as wheels in .whl/ (see bench/gpu_check.py for the list), installed into a private folder
# first. .whl/ is git-ignored: name it in the device tool's `carry` (carry: [".whl"]), or nothing arrives.
# Leave transformers out of .whl/: the check runs on the machine's own (5.17 on the lent device, as on
# every GPU node with the vllm extra) and warns when it is another version.
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
