"""How fmbench writes numbers for people: one style per kind, used by every output.

The report, the comparison, the gate's terminal table, its Markdown and JUnit, and the CLI's progress
lines all write their numbers with these functions, so a value reads the same wherever it is looked up:

  * accuracies and other shares:  ``87.52 %`` (two decimals; chances and confidences ``12 %``, whole);
  * differences of accuracies:    ``+0.50 points`` (signed), a spread or an allowance ``0.50 points``;
  * scores without a unit:        ``0.4568`` (losses, F1, precision, recall);
  * durations:                    ``0.85 s``, ``3.5 min``, ``1 h 05 min`` (``format_duration``);
  * counts and plurals:           ``10,000``, ``1 seed``, ``2 seeds``;
  * speeds, ratios, p-values:     ``30,787 images/s``, ``× 1.05``, ``0.023`` or ``< 0.001``;
  * nothing to show:              ``—``.

Numbers and units are separated by an ordinary space; HTML output passes text through ``unbreakable``
so that a line never breaks between a number and its unit.

Why a top-level module and not ``bench.report.format``: ``bench.analysis`` (the gate's outputs and
sentences) needs these too, and ``bench.report`` sits above ``bench.analysis`` (the report imports the
analysis), so a formatter inside ``bench.report`` would make the analysis import upwards. Like
``bench.errors``, this module imports nothing, so any layer may import it without a circle and without
cost (``bench.progress``, which re-exports ``format_duration`` for the CLI, pulls in tqdm).
"""

from __future__ import annotations

import math

NBSP = "\u00a0"
MISSING = "—"


def unbreakable(text: str) -> str:
    """Spaces made non-breaking, for HTML: a number never wraps away from its unit."""
    return text.replace(" ", NBSP)


def count(n: int | float) -> str:
    return f"{n:,.0f}"


def noun(n: int, singular: str, plural: str | None = None) -> str:
    """The noun for ``n`` things ("seed" or "seeds"), without the number."""
    return singular if n == 1 else (plural or singular + "s")


def plural(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` things with a noun that agrees: "1 seed", "2 seeds", never "2 seed(s)"."""
    return f"{count(n)} {noun(n, singular, plural)}"


def percent(fraction: float | None, digits: int = 2, unit: bool = True) -> str:
    """A share given as a fraction: "87.52 %"; ``digits=0`` for chances and confidences ("12 %");
    ``unit=False`` in a table column whose heading gives the unit."""
    if fraction is None:
        return MISSING
    return f"{fraction * 100:.{digits}f}" + (" %" if unit else "")


def points(difference: float | None, signed: bool = True) -> str:
    """A difference of two accuracies (fractions) in percentage points: "+0.50 points"; unsigned for a
    spread or an allowance, which has no direction."""
    if difference is None:
        return MISSING
    return f"{difference * 100:{'+' if signed else ''}.2f} points"


def score(value: float | None) -> str:
    """A number without a unit (a loss, an F1 score): four decimals."""
    return MISSING if value is None else f"{value:.4f}"


def format_duration(seconds: float, digits: int = 0) -> str:
    """Seconds as a person reads them: '42 s', '3.5 min', '1 h 05 min'.

    ``digits``: decimals of seconds under 90 s, for measured times that differ by less than a second
    (an epoch, an inference pass); wall times of studies read best whole.
    """
    if seconds < 90:
        return f"{seconds:.{digits}f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


def speed(images_per_s: float) -> str:
    return f"{images_per_s:,.0f} images/s"


def flops(n: int | None) -> str:
    if n is None:
        return ""
    return f"{n / 1e6:,.2f} MFLOPs per image" if n >= 1e5 else f"{n:,} FLOPs per image"


def p_value(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "undefined"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def ratio(value: float | None) -> str:
    return MISSING if value is None else f"× {value:.2f}"


def span(low: str, high: str) -> str:
    """An interval of two texts already formatted: "85.10 % to 86.20 %"."""
    return f"{low} to {high}"


def metric(name: str, value: float, spread: bool = False) -> str:
    """One value of a named metric in its unit; ``spread``: a std or allowance, in the same unit, unsigned.

    Accuracies (and the gate's worst seed, an accuracy) are shares and their spreads differences of
    shares, in points; gaps are differences already; times end in ``_s``; anything else is a score.
    """
    if name.endswith("accuracy") or name == "worst_seed":
        return points(value, signed=False) if spread else percent(value)
    if name.startswith("gap"):
        return points(value, signed=not spread)
    if name == "images_per_s":
        return speed(value)
    if name.endswith("_s"):
        return format_duration(value, digits=2)
    return score(value)
