"""The files a SkyPilot plan becomes: one pipeline YAML per managed job, else one task YAML per cluster,
written into the dry-run folder. Sits above tasks.py and jobs.py, which build what it renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runners.skypilot.jobs import job_files, jobs_of
from runners.skypilot.tasks import CloudTask, dump, job_name, narrowed, runner_of, secret_names


def render(recipe: Any, tasks: list[CloudTask], secrets: list[str] | None = None) -> dict[str, str]:
    """File name -> YAML text: one pipeline file per managed job, else one file per task (cluster).

    `secrets` narrows the secret names to those a launch has values for (SkyPilot refuses a null
    reference it cannot resolve).
    """
    runner = runner_of(recipe)
    tasks = narrowed(tasks, secrets)
    names = secret_names(runner, recipe) if secrets is None else secrets
    secrets_flags = "".join(f"--secret {n} " for n in names)
    if runner.managed:
        return job_files(jobs_of(recipe.name, tasks), secrets_flags)
    out = {}
    for i, t in enumerate(tasks):
        cluster = f"{job_name(recipe.name)}-{i}"
        out[f"{i:02d}-{t.name}.yaml"] = (f"# sky launch -c {cluster} --down {secrets_flags}{i:02d}-{t.name}.yaml\n"
                                         + dump([t.config]))
    return out


def write(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write the files, first removing task files an earlier dry run left there (numbered, or the one
    pipeline of older versions), so the folder holds exactly this plan's."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in [*out_dir.glob("[0-9][0-9]-*.yaml"), out_dir / "pipeline.yaml"]:
        if old.is_file() and old.name not in files:
            old.unlink()
    paths = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text)
        paths.append(path)
    return paths
