"""The one root exception of fmbench; the CLI prints it as a single line."""

from __future__ import annotations


class BenchError(Exception):
    """Bad input or a failed step, described for a user: what, the value, how to fix.

    ``exit_code`` is 2 for bad input (the default) and 1 for internal failures.
    """

    def __init__(self, what: str, *, value: object = None, fix: str = "", exit_code: int = 2):
        self.what = what
        self.value = value
        self.fix = fix
        self.exit_code = exit_code
        super().__init__(self.message())

    def message(self) -> str:
        parts = [self.what]
        if self.value is not None:
            parts.append(f"got {self.value!r}")
        if self.fix:
            parts.append(self.fix)
        return "; ".join(parts)
