#!/usr/bin/env bash
# The editor and browser checks with the real tools: `yaml-language-server` (npm, pinned) over the shipped
# recipes and `recipe init` output (tests/sdk/test_editor.py). Installs what is missing: node and npm
# from the OS packages, the server into .ci/node/ (reused once there; delete the folder to reinstall).
#   cold: ~1 min (apt + npm); warm: ~30 s.
set -euo pipefail
cd "$(dirname "$0")/.."
YLS_VERSION=1.19.2       # runs on node >= 18 (Debian's); 2.x needs node 22
PY=${PYTHON:-.venv/bin/python}
start=$(date +%s)

apt_install() {  # Debian/Ubuntu packages, as root (CI) or through sudo
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
server=.ci/node/node_modules/.bin/yaml-language-server
if [ ! -x "$server" ] || ! grep -q "\"version\": \"$YLS_VERSION\"" .ci/node/node_modules/yaml-language-server/package.json; then
  npm install --silent --no-audit --no-fund --prefix .ci/node "yaml-language-server@$YLS_VERSION"
fi
echo "tools ready after $(( $(date +%s) - start )) s (node $(node --version), yaml-language-server $YLS_VERSION)"

export RECIPE_REQUIRE_EDITOR=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
"$PY" -m pytest -q -p no:cacheprovider tests/sdk/test_editor.py "$@"
echo "total $(( $(date +%s) - start )) s"
