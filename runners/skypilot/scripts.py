"""The `setup` and `run` shell scripts of a task: install the project, then `recipe apply --only`.

Both start by asking the mounted store whether the task's stages are already committed, so a
relaunch (a second `apply`, a spot recovery) skips the install and the work of finished stages.
On a multi-node task every node runs the same `recipe apply`: runners/local/launch.py turns
SkyPilot's SKYPILOT_NODE_RANK / SKYPILOT_NODE_IPS / SKYPILOT_NUM_NODES into `accelerate launch
--machine_rank ...`. Only node 0 may commit into the bucket, so worker nodes apply against a private
store whose input artifacts link to the bucket's and whose checkpoints folder is the bucket's
(every rank resumes from the same checkpoint).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from schemas.skypilot import SkyPilotRunner

VENV = '"${RECIPE_VENV:-$HOME/recipe-venv}"'
"""The node's venv for the project (kept apart from SkyPilot's own runtime)."""
STORE_ENV = "RECIPE_STORE"
"""The env var that holds the mounted store path (the local-cloud test points it at a temp folder)."""


COMMITTED = ('committed() { python3 -c \'import json, os, sys\n'
             'for key in sys.argv[2:]:\n'
             '    folder = os.path.join(sys.argv[1], "artifacts", key)\n'
             '    files = json.load(open(os.path.join(folder, "manifest.json")))["files"]\n'
             '    assert files and all(os.path.getsize(os.path.join(folder, name)) == entry["size"]\n'
             '                         for name, entry in files.items())\n'
             f'\' "${STORE_ENV}" "$@" 2>/dev/null; }}')
"""A shell function: are these stages committed, i.e. does every listed file have its manifest's size?

The stdlib-only twin of `Store.has` (sizes only; `recipe apply` on the node also checks the hashes),
runnable before the project is installed. A manifest that reached the bucket before the files it
lists (a preempted upload) fails it, so the stage is redone."""


def _done_check(keys: Sequence[str]) -> str:
    return f"committed {' '.join(keys)}" if keys else "false"


def install_target(runner: SkyPilotRunner, gpu: bool = False) -> list[str]:
    """pip arguments that install the project: editable from the synced workdir, or a requirement.

    A task whose machines have accelerators also gets `gpu_extras` (vLLM for rollouts and evaluation).
    """
    target = runner.install
    if target == "." or target.startswith(("./", "/", "~")):
        wanted = [*runner.extras, *(runner.gpu_extras if gpu else [])]
        extras = f"[{','.join(dict.fromkeys(wanted))}]" if wanted else ""
        return ["-e", f"{target}{extras}"]
    return [target]


def setup_script(runner: SkyPilotRunner, ids: Sequence[str], skip_keys: Sequence[str], gpu: bool = False) -> str:
    """Create the node's venv and install the project into it, unless every stage is committed."""
    names = ", ".join(ids)
    lines = [
        "set -euo pipefail",
        COMMITTED,
        f"if {_done_check(skip_keys)}; then",
        f'  echo "recipe: {names} already in the store; nothing to install"',
        "  exit 0",
        "fi",
        f"[ -x {VENV}/bin/python ] || python3 -m venv {VENV}",
        f". {VENV}/bin/activate",
        *runner.setup,
        "python -m pip install " + " ".join(shlex.quote(a) for a in install_target(runner, gpu)),
    ]
    return "\n".join(lines) + "\n"


def apply_command(recipe_file: str, overrides: Sequence[str], ids: Sequence[str], force: Sequence[str],
                  store: str = f'"${STORE_ENV}"') -> str:
    """`recipe apply` of these stages on the node, locally (`~runner` drops the cloud runner block)."""
    args = ["recipe", "apply", recipe_file, *overrides, "~runner"]
    for sid in ids:
        args += ["--only", sid]
    for sid in force:
        args += ["--force", sid]
    return " ".join(shlex.quote(a) for a in args) + f" --store {store}"


def run_script(recipe_file: str, overrides: Sequence[str], ids: Sequence[str], keys: Sequence[str],
               skip_keys: Sequence[str], input_keys: Sequence[str], num_nodes: int,
               force: Sequence[str] = ()) -> str:
    """Apply the task's stages on this node against the mounted store."""
    names = ", ".join(ids)
    lines = [
        "set -euo pipefail",
        COMMITTED,
        f"if {_done_check(skip_keys)}; then",
        f'  echo "recipe: {names} already in the store; skipping"',
        "  exit 0",
        "fi",
    ]
    if input_keys:  # made by other tasks: launched only once those succeeded, so they must be there
        lines += [
            f"if ! committed {' '.join(input_keys)}; then",
            f'  echo "recipe: {names}: an input is not committed in the store ({" ".join(input_keys)}); '
            'the job making it has not succeeded" >&2',
            "  exit 1",
            "fi",
        ]
    lines += [
        f". {VENV}/bin/activate",
        f'store="${STORE_ENV}"',
    ]
    if num_nodes > 1:
        lines += [
            "# Worker nodes join the distributed launch but commit nothing to the bucket.",
            'if [ "${SKYPILOT_NODE_RANK:-0}" != "0" ]; then',
            '  store="$HOME/.recipe-worker-store"',
            '  rm -rf "$store" && mkdir -p "$store/artifacts"',
            *(f'  ln -s "${STORE_ENV}/artifacts/{k}" "$store/artifacts/{k}"' for k in input_keys),
            '  mkdir -p "$store/checkpoints"',
            *(f'  mkdir -p "${STORE_ENV}/checkpoints/{k}" && '
              f'ln -s "${STORE_ENV}/checkpoints/{k}" "$store/checkpoints/{k}"' for k in keys),
            "fi",
        ]
    lines.append(apply_command(recipe_file, overrides, ids, force, store='"$store"'))
    return "\n".join(lines) + "\n"
