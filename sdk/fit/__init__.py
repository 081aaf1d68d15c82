"""The memory fit check: model shapes, the estimate per stage, and the check of a plan against its GPUs."""
