#!/usr/bin/env bash
# The checks that need real user-side tools, and their install: the YAML language server (npm, pinned)
# over the shipped recipes and `recipe init` output (tests/sdk/test_editor.py), and headless Chromium
# over the report page (tests/sdk/test_report.py). Installs what is missing: node and npm, chromium from
# the OS packages; the server into .ci/node/ (reused once there; delete the folder to reinstall).
# The README's test command runs this before the suite, so the suite's slow report tests find Chromium.
#   cold: ~2 min (apt + npm); warm: ~1 min.
set -euo pipefail
cd "$(dirname "$0")/.."
YLS_VERSION=1.19.2       # runs on node >= 18 (Debian's); 2.x needs node 22
PY=${PYTHON:-.venv/bin/python}
start=$(date +%s)

apt_install() {  # Debian/Ubuntu packages, as root (CI) or through sudo
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
server=.ci/node/node_modules/.bin/yaml-language-server
if [ ! -x "$server" ] || ! grep -q "\"version\": \"$YLS_VERSION\"" .ci/node/node_modules/yaml-language-server/package.json; then
  npm install --silent --no-audit --no-fund --prefix .ci/node "yaml-language-server@$YLS_VERSION"
fi
echo "tools ready after $(( $(date +%s) - start )) s (node $(node --version), yaml-language-server $YLS_VERSION," \
     "$( (chromium --version || chromium-browser --version) 2>/dev/null | head -1))"

export RECIPE_REQUIRE_EDITOR=1 RECIPE_REQUIRE_BROWSER=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
"$PY" -m pytest -q -p no:cacheprovider -m "not slow" tests/sdk/test_editor.py tests/sdk/test_report.py "$@"
echo "total $(( $(date +%s) - start )) s"
