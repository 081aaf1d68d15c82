"""client: every call this runner makes into SkyPilot, behind one small class (the test boundary).

`sky` is imported inside the methods: `recipe --help`, `validate` and `plan` never load it. Secret
values travel only as `secrets_overrides` of SkyPilot's own YAML loader, in memory.
"""

from __future__ import annotations

import os
from typing import Any


class CloudError(Exception):
    """SkyPilot is missing, unreachable, or refused a request."""


def _sky() -> Any:
    try:
        import sky
    except ImportError:
        raise CloudError("SkyPilot is not installed in this environment; install the controller extra: "
                         "pip install 'recipe[cloud]' (in its own venv, see docs/cloud.md)") from None
    return sky


def _call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a request and wait for its result, turning SkyPilot's errors into one clear CloudError."""
    sky = _sky()
    try:
        return sky.stream_and_get(fn(*args, **kwargs))
    except sky.exceptions.ApiServerConnectionError as err:
        endpoint = os.environ.get("SKYPILOT_API_SERVER_ENDPOINT", "the local default")
        raise CloudError(f"{what}: cannot reach the SkyPilot API server ({endpoint}): "
                         f"{str(err).splitlines()[0]} Start one with `sky api start`, or check "
                         "SKYPILOT_API_SERVER_ENDPOINT.") from None
    except Exception as err:  # noqa: BLE001 - the boundary: SkyPilot has dozens of exception types
        raise CloudError(f"{what}: {type(err).__name__}: {err}") from None


def _dag(text: str, secrets: dict[str, str]) -> Any:
    """SkyPilot's own loader (schema validation included); secret values fill the null references."""
    _sky()
    from sky.utils import dag_utils

    try:
        return dag_utils.load_chain_dag_from_yaml_str(text, secrets_overrides=list(secrets.items()))
    except Exception as err:  # noqa: BLE001
        raise CloudError(f"SkyPilot rejected the task YAML: {type(err).__name__}: {err}") from None


def _plain(record: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = record.get(name) if hasattr(record, "get") else getattr(record, name, None)
        out[name] = getattr(value, "value", value)
    return out


JOB_FIELDS = ("job_id", "job_name", "task_id", "task_name", "status", "submitted_at", "recovery_count",
              "failure_reason", "infra")


class SkyClient:
    """The real SkyPilot client (API server at SKYPILOT_API_SERVER_ENDPOINT, else a local one)."""

    def jobs_launch(self, pipeline_yaml: str, name: str, secrets: dict[str, str]) -> list[int]:
        """Submit a managed-jobs pipeline; returns its job ids."""
        dag = _dag(pipeline_yaml, secrets)
        dag.name = name
        job_ids, _ = _call("sky jobs launch", _sky().jobs.launch, dag, name=name)
        return list(job_ids or [])

    def cluster_launch(self, task_yaml: str, cluster: str, secrets: dict[str, str]) -> int:
        """Launch one task on its own cluster (torn down when the task ends); returns its exit code."""
        sky = _sky()
        dag = _dag(task_yaml, secrets)
        job_id, _ = _call("sky launch", sky.launch, dag.tasks[0], cluster_name=cluster, down=True)
        return int(sky.tail_logs(cluster, job_id, follow=True))

    def jobs_queue(self, prefix: str) -> list[dict[str, Any]]:
        """Managed-job task records whose job name starts with `prefix`."""
        sky = _sky()
        found = _call("sky jobs queue", sky.jobs.queue_v2, refresh=False, name_match=prefix)
        records = found[0] if isinstance(found, tuple) else found
        return [r for r in (_plain(rec, JOB_FIELDS) for rec in records) if str(r["job_name"]).startswith(prefix)]

    def jobs_logs(self, job_id: int, follow: bool = True) -> int:
        return int(_sky().jobs.tail_logs(job_id=job_id, follow=follow) or 0)

    def jobs_cancel(self, job_ids: list[int]) -> None:
        _call("sky jobs cancel", _sky().jobs.cancel, job_ids=job_ids)

    def clusters(self, prefix: str) -> list[dict[str, Any]]:
        records = _call("sky status", _sky().status)
        rows = [_plain(r, ("name", "status", "launched_at")) for r in records]
        return [r for r in rows if str(r["name"]).startswith(prefix)]

    def cluster_logs(self, cluster: str, follow: bool = True) -> int:
        return int(_sky().tail_logs(cluster, None, follow=follow) or 0)

    def cluster_down(self, cluster: str) -> None:
        _call("sky down", _sky().down, cluster)
