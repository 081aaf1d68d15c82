"""What a run shows: the report (tables, plots, page), paired differences, verdicts, `recipe status`."""
