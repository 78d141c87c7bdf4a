"""One stored figure that a file's own evidence does not reproduce, and how close counts as equal."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Keras accumulates accuracy in float32: a stored 0.8123 may differ from the exact ratio by a few
# 1e-8. One test image is 1e-4 of accuracy on the full set, so 1e-6 flags any changed prediction.
ACCURACY_TOLERANCE = 1e-6
# Per-class scores and gaps are float64 arithmetic on the same numbers: only round-off may differ.
EXACT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Contradiction:
    """One stored figure that the file's own evidence does not reproduce."""

    path: Path
    field: str
    stored: object
    recomputed: object
    source: str  # what the recomputed value was derived from

    def describe(self) -> str:
        return (f"{self.path}: field '{self.field}' stores {_text(self.stored)} but {self.source} gives "
                f"{_text(self.recomputed)}")

    def __str__(self) -> str:
        return f"{self.describe()}; the file contradicts itself, so this run is left out (re-run this seed)"


def _text(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)
