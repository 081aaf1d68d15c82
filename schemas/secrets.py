"""What counts as a credential: the project's one secret-name pattern, and the values it guards.

A credential may reach a stage only through its environment (or SkyPilot secrets), never through a
recipe value: every value that ends up in a plan, manifest, log or task YAML is checked against
the values of the credential-like variables set here, whatever expression produced it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|CREDENTIAL|CONNECTION_STRING|_PAT$", re.IGNORECASE)
"""Names of environment variables that hold credentials: HF_TOKEN, WANDB_API_KEY,
AWS_SECRET_ACCESS_KEY, GOOGLE_APPLICATION_CREDENTIALS, AZURE_STORAGE_CONNECTION_STRING, GITHUB_PAT..."""
NOT_SECRET = frozenset({"TOKENIZERS_PARALLELISM"})
"""Names the pattern matches that are settings, not credentials."""
MIN_SECRET_LENGTH = 8
"""Shorter values (`1`, `true`) are settings, and would match half of any recipe."""


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and name.upper() not in NOT_SECRET


def secret_values(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Credential-like variable name -> its value, for those set (long enough to be a credential)."""
    env = os.environ if env is None else env
    return {name: value for name, value in env.items()
            if is_secret_name(name) and len(value.strip()) >= MIN_SECRET_LENGTH}


def secrets_in(text: str, env: Mapping[str, str] | None = None, values: Mapping[str, str] | None = None) -> list[str]:
    """The names of the credential variables whose value `text` contains (`values`: `secret_values()`
    computed once by a caller that checks many texts)."""
    values = secret_values(env) if values is None else values
    return sorted(name for name, value in values.items() if value.strip() in text)


def redact(text: str, env: Mapping[str, str] | None = None) -> str:
    """`text` with every credential value replaced by `$NAME` (for messages that quote user input)."""
    for name, value in sorted(secret_values(env).items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value.strip(), f"${name}")
    return text
