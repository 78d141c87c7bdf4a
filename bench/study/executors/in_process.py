"""Units one after another in this process (the default): epoch bars shown, nothing to start."""

from __future__ import annotations

import traceback
from collections import deque

from bench.study import units
from bench.study.executors import Executor, Outcome


class InProcessExecutor(Executor):
    name = "in-process"

    def __init__(self, env: units.UnitEnv, dataset, setups, progress):
        self.env, self.progress = env, progress
        self.queue: deque = deque()
        units.install(env, dataset, setups)  # the driver's data and models: nothing loaded twice

    def submit(self, unit) -> None:
        self.queue.append(unit)

    def results(self):
        while self.queue:
            unit = self.queue.popleft()
            try:
                value = units.execute(unit, self.env, self.progress)
            except Exception as exc:  # a stage that fails: the driver records its tuning as failed
                self.progress.say(traceback.format_exc())
                yield Outcome(unit, error=f"{type(exc).__name__}: {exc}")
                continue
            yield Outcome(unit, value)
