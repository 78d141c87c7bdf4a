"""How busy this machine is as a study starts, and how much longer that makes its units take.

The plan's cost model (``bench.study.plan``) is this machine's speed with nothing else running. A smoke
study keeps about one core busy (1.04 cores on average, measured on 2 cores), so while another core is free a
busy neighbour costs it little; once others fill every core, each of its many small TensorFlow ops waits for
a time slice. Measured on 2 cores (AMD EPYC), smoke x 2 seeds: the units took 50-54 s alone; beside one
CPU-bound process (``python -c "while True: pass"``) 1.0, 1.01, 1.05, 1.09, 1.14, 1.19, 1.27, 1.29 and 1.66
times that (the last with other work starting meanwhile); beside two, 1.95, 2.0 and 3.04 times. So before
the estimate is printed the driver counts the threads of other processes ready to run (``others_running``,
one second) and charges ``ONE_BUSY`` for filling the cores but one, and ``CONTENTION`` for each thread beyond.

One second sees the load of that second only: the study's bar projects the total again from the pace of its
finished units (``bench.progress.StudyBar``).
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

SAMPLE_S = 1.0
WINDOWS, SAMPLES = 5, 50
ONE_BUSY = 0.15  # others busy on all cores but one: the nine runs beside one process, median 1.14x
CONTENTION = 1.0  # each further thread: 2.15x in all beside two processes, between those runs' median and mean
MAX_SLOWDOWN = 3.0  # about the most measured (3.04x); the study's bar corrects a busier start from the units' pace
PROC_STAT = Path("/proc/stat")


def _runnable() -> int | None:
    """Linux's count of threads running or ready to run, this one included; None elsewhere."""
    try:
        for line in PROC_STAT.read_text().splitlines():
            if line.startswith("procs_running "):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def others_running(seconds: float = SAMPLE_S, samples: int = SAMPLES, windows: int = WINDOWS, read=_runnable,
                   sleep=time.sleep) -> float:
    """Threads of other processes ready to run over ``seconds``: the count averaged in each of ``windows``
    parts, the quietest part kept (a process that runs throughout counts; a burst, like a test starting, does
    not: one made a one-process study read 2.2). This process sleeps meanwhile; the sampler is the one of its
    own it counts. Without /proc/stat: the 1-minute load average (it holds some of this process's own
    start-up); without that, 0."""
    counts = []
    for _ in range(samples):
        count = read()
        if count is None:
            return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        counts.append(count)
        sleep(seconds / samples)
    size = max(1, len(counts) // windows)
    quietest = min(sum(counts[i:i + size]) / len(counts[i:i + size]) for i in range(0, len(counts), size))
    return max(0.0, quietest - 1)


def slowdown(others: float, cores: int | None = None) -> float:
    """How many times the cost model's seconds the units take beside ``others`` runnable threads: ONE_BUSY
    as they fill all cores but one, CONTENTION for each thread beyond (per pair of cores), at most
    MAX_SLOWDOWN."""
    cores = cores or os.cpu_count() or 1
    filling = min(others, cores - 1) / (cores - 1) if cores > 1 else 0.0
    beyond = max(0.0, others - (cores - 1)) * 2 / cores
    return min(MAX_SLOWDOWN, 1.0 + ONE_BUSY * filling + CONTENTION * beyond)


def with_measured_costs(config):
    """The study's config with each user model that its family can time costed by its own training step on this
    machine (``Family.seconds_per_image``), instead of the cost model's default for a model it does not know."""
    setups = [_measured(setup) for setup in config.setups]
    return dataclasses.replace(config, setups=setups)


def _measured(setup):
    spec = setup.spec
    seconds = spec.family.seconds_per_image(spec, setup.params) if spec.user else None
    if seconds is None:
        return setup
    return dataclasses.replace(setup, spec=dataclasses.replace(spec, cost=lambda params, s=seconds: s))
