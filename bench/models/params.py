"""Declarative parameter constraints (as scikit-learn's ``_parameter_constraints``): a model module
says what each of its parameters may be, and one function checks values and names the problem."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError


@dataclass(frozen=True)
class PositiveInt:
    def check(self, value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        return None if ok else "must be a positive integer"


@dataclass(frozen=True)
class Interval:
    """A number in [low, high) (``high`` None: unbounded); ``open_low`` excludes ``low``."""

    low: float
    high: float | None = None
    open_low: bool = False

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if not math.isfinite(value):  # TOML writes inf and nan; no model parameter means either
            return "must be a finite number"
        above = value > self.low if self.open_low else value >= self.low
        if above and (self.high is None or value < self.high):
            return None
        if self.high is None:
            return f"must be a number above {self.low:g}" if self.open_low else f"must be at least {self.low:g}"
        return f"must be in {'(' if self.open_low else '['}{self.low:g}, {self.high:g})"


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def check(self, value: Any) -> str | None:
        # Python's 1 == True: a number must not pass as a boolean option, nor a boolean as a number.
        found = any(value == o and isinstance(value, bool) == isinstance(o, bool) for o in self.options)
        return None if found else f"must be one of {', '.join(map(str, self.options))}"


def check_params(where: str, params: Mapping[str, Any], constraints: Mapping[str, Any], strict: bool = True) -> None:
    """Every value meets its constraint; with ``strict``, every name is known."""
    for name, value in params.items():
        constraint = constraints.get(name)
        if constraint is None:
            if strict:
                raise BenchError(f"{where}: unknown parameter {name!r}",
                                 fix=f"known: {', '.join(constraints) or 'none'}")
            continue
        problem = constraint.check(value)
        if problem:
            if isinstance(constraint, Choice):
                raise BenchError(f"{where}: unknown {name} {value!r}", fix=f"choose one of "
                                 f"{', '.join(map(str, constraint.options))}")
            raise BenchError(f"{where}: {name} {problem}", value=value)


def check_grids(where: str, grids: Mapping[str, Any], constraints: Mapping[str, Any], strict: bool = True) -> None:
    for name, grid in grids.items():
        if name not in constraints and strict:
            raise BenchError(f"{where}: unknown grids entry {name!r}", fix=f"known: {', '.join(constraints)}")
        if not isinstance(grid, list):
            raise BenchError(f"{where}: grid '{name}' must be a list of values", value=grid,
                             fix=f"write it as a list, e.g. {name} = [{grid!r}]")
        if not grid:
            raise BenchError(f"{where}: grid '{name}' is empty", value=grid, fix="give at least one value")
        for value in grid:
            check_params(f"{where}: grid '{name}'", {name: value}, constraints, strict)
