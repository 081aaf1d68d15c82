#!/usr/bin/env bash
# The SkyPilot runner against the real SkyPilot: a controller venv (core + `cloud` extra, i.e.
# skypilot 0.14.1, which pins click<8.2 and so cannot share the ML venv), then tests/runners in it.
# Idempotent: the venv is reused once complete (`.venv-cloud/.ready`); delete the folder to rebuild.
# No network at test time: SKYPILOT_API_SERVER_ENDPOINT points at a dead loopback port, so no API
# server is ever started, and HOME is a temp folder per test.
#   cold: ~80 s (pip); warm: ~45 s (the local-cloud tests run the generated scripts for real and use
#   .venv, the ML venv, as the node's packages when it exists).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-cloud
PY=${PYTHON:-python3}
start=$(date +%s)

if [ ! -f "$VENV/.ready" ]; then
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[cloud]" pytest
  "$VENV/bin/python" -c "import sky, importlib.metadata as m; assert m.version('skypilot') == '0.14.1'"
  touch "$VENV/.ready"
fi
echo "venv ready after $(( $(date +%s) - start )) s"

export SKYPILOT_DISABLE_USAGE_COLLECTION=1 SKYPILOT_API_SERVER_ENDPOINT=http://127.0.0.1:9
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/runners "$@"
echo "total $(( $(date +%s) - start )) s"
