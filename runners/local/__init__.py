"""The local runner: each stage in its own subprocess, several processes through accelerate or torchrun."""

from runners.local.runner import LocalRunner

__all__ = ["LocalRunner"]
