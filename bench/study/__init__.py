"""A study: its plan (units of work and the cost model) and the runner that carries it out."""
