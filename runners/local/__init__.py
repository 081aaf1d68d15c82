"""The local runner: each stage in its own subprocess, several processes through accelerate or torchrun."""

from runners.local.place import Local
from runners.local.process import ProcessLauncher

__all__ = ["Local", "ProcessLauncher"]
