"""Where stages run: `local` (subprocesses on this machine) and, for cloud GPUs, `skypilot`."""
