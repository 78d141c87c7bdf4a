"""The comparison's answer in one paragraph: what differs between these studies, and is it a fair match.

For every study against A: a headline (which models differ in accuracy beyond seed noise, which in speed
measurably), then per model the accuracy difference in points with its 95 % Welch interval and the Holm-
adjusted p-values of compare's study-level tests, and each speed ratio with its 95 % interval (ratio of
geometric means, t-interval on the logs with Welch's standard error and Hsu's df) or "no measurable
difference", and last what differs besides the studies' results (protocol fields, test sets, environment
fields), which may explain them.

Every word comes from what ``bench.analysis.compare`` computed; nothing is tested again here. ``fmbench
compare`` prints the paragraph and the comparison report shows it above its tables. ``glue`` is applied to
every number with its unit: the HTML page passes ``bench.format.unbreakable`` so that a number never wraps
away from its unit, the terminal passes nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.analysis.compare import Comparison, EnvRow, Versus
from bench.analysis.significance import Ratio
from bench.format import p_value, points, ratio, span

# Versus attribute, what it measures, and the word for a ratio above 1 and below 1.
SPEEDS = (("epoch_s_ratio", "seconds per epoch", "slower", "faster"),
          ("images_per_s_ratio", "images per second", "faster", "slower"))
NO_DIFFERENCE = "no measurable difference"
SHORT = 30  # a field's values are quoted up to this length; longer ones (grids, paths) only named

Glue = Callable[[str], str]


def listing(items: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def study_name(label: str) -> str:
    """"B: tiny-b" as "B (tiny-b)", readable inside a sentence."""
    letter, _, name = label.partition(": ")
    return f"{letter} ({name})" if name else letter


def accuracy_clause(versus: Versus, glue: Glue) -> str:
    """The Welch difference over all seeds and its interval; within or beyond seed noise by compare's tests."""
    d = versus.difference
    text = f"accuracy {glue(points(d.difference))}"
    if d.ci_low is None or d.ci_high is None:
        return f"{text}, untested ({d.note or 'no interval'})"
    text += f" (95 % CI {glue(span(points(d.ci_low), points(d.ci_high)))})"
    tests = [(name, t) for name, t in (("Welch", d), ("paired", versus.paired)) if t is not None and t.p_adjusted
             is not None]
    noise = "beyond seed noise" if versus.significant else "within seed noise"
    ps = ", ".join(f"{name} p {glue(p_value(t.p_adjusted))}" for name, t in tests)
    notes = "".join(f"; {name}: {t.note}" for name, t in tests if t.note)
    return f"{text}, {noise} ({ps}, Holm-adjusted{notes})"


def speed_clause(name: str, value: Ratio, above: str, below: str, letter: str, glue: Glue) -> str:
    """One speed ratio (B over A) and what it says: only an interval that excludes 1 is a difference."""
    text = f"{name} {glue(ratio(value.ratio))}"
    if value.ci_low is None or value.ci_high is None:
        return f"{text}: {NO_DIFFERENCE} (an interval needs 2 seeds in each study)"
    text += f" (95 % CI {glue(span(ratio(value.ci_low), ratio(value.ci_high)))})"
    if not value.measurable:
        return f"{text}: {NO_DIFFERENCE}"
    return f"{text}: {above if value.ratio > 1 else below} in {letter}"


def speed_clauses(versus: Versus, letter: str, glue: Glue) -> list[str]:
    return [speed_clause(name, getattr(versus, attribute), above, below, letter, glue)
            for attribute, name, above, below in SPEEDS if getattr(versus, attribute) is not None]


def speed_differs(versus: Versus) -> bool:
    return any(getattr(versus, attribute) is not None and getattr(versus, attribute).measurable
               for attribute, *_ in SPEEDS)


def headline(name: str, base: str, rows: list[Versus]) -> str:
    if not rows:
        return f"{name} against {base}: no model has successful runs in both, so nothing is compared."
    accuracy = [v.model for v in rows if v.significant]
    speed = [v.model for v in rows if speed_differs(v)]
    return (f"{name} against {base}: "
            + (f"accuracy differs beyond seed noise for {listing(accuracy)}" if accuracy
               else "no model's accuracy differs beyond seed noise")
            + "; " + (f"speed differs measurably for {listing(speed)}." if speed
                      else "no speed difference is measurable."))


def field_text(row: EnvRow, index: int, letter: str) -> str:
    """A differing field, with both values where they are short enough to read in a sentence."""
    a, b = row.values[0], row.values[index]
    return f"{row.field} ({a} in A, {b} in {letter})" if max(len(a), len(b)) <= SHORT else row.field


def fairness(comparison: Comparison, index: int, rows: list[Versus]) -> str:
    """What differs besides the results: where the comparison is not like for like, and so may mislead."""
    letter, name = comparison.labels[index][0], study_name(comparison.labels[index])
    parts = []
    for what, table in (("settings", comparison.protocol), ("environment", comparison.environment)):
        fields = [field_text(row, index, letter) for row in table if row.differs[index]]
        if fields:
            parts.append(f"its {what}: {listing(fields)}")
    other_tests = [v.model for v in rows if not v.same_test_set]
    if other_tests:
        parts.append(f"the test set of {listing(other_tests)}")
    if not parts:
        return ("Like for like as far as fmbench records: the same profile, settings, data, test set and "
                "environment.")
    return f"Not like for like: {name} differs from A in {'; '.join(parts)}; a difference above may come from these."


def verdict(comparison: Comparison, glue: Glue = str) -> str:
    """The paragraph: for each study against A, its headline, one sentence per model, then its fairness."""
    base = study_name(comparison.labels[0])
    sentences = []
    for index, label in enumerate(comparison.labels[1:], start=1):
        rows = [v for v in comparison.versus if v.label == f"{label[0]} vs A"]
        sentences.append(headline(study_name(label), base, rows))
        sentences += [f"{v.model}: {'; '.join([accuracy_clause(v, glue), *speed_clauses(v, label[0], glue)])}."
                      for v in rows]
        sentences.append(fairness(comparison, index, rows))
    return " ".join(sentences)
