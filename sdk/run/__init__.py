"""Running a plan: the store, what is cached, the schedule, apply (one or several stages at once),
the runner interface."""
