"""What ``fmbench check`` hands to people and CI systems: a terminal table, Markdown, JUnit XML.

All three format numbers with the same helpers, so a value reads the same wherever it is looked up. Each
statistical check shows its allowed drop and its chance of catching a drop of 0.5 and 1 point at the
spread it measured ("power"), and the table ends with the false-alarm budget the checks share.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from bench.analysis.checks import Outcome


def value_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def points_text(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.2f} pts" if signed else f"{value * 100:.2f} pts"


def power_text(outcome: Outcome) -> str:
    """The chance of catching a drop of 0.5 and of 1 point, as "12% / 40%"; "-" where the check has none."""
    if not outcome.power or all(p is None for p in outcome.power):
        return "-"
    return " / ".join("?" if p is None else f"{p * 100:.0f}%" for p in outcome.power)


def budget(outcomes: Sequence[Outcome]) -> str:
    """The false-alarm budget the statistical checks share (Bonferroni: their levels add up to it)."""
    levels = [o.alpha for o in outcomes if o.alpha is not None]
    if not levels:
        return "no statistical check: seeds reproduce or --max-drop was given"
    return (f"false alarms on unchanged code: at most {sum(levels) * 100:.2g}% for the whole gate "
            f"(Bonferroni over {len(levels)} statistical checks)")


def verdict(outcomes: Sequence[Outcome]) -> str:
    failed = sum(not o.passed for o in outcomes)
    return (f"{failed} of {len(outcomes)} checks failed" if failed
            else f"all {len(outcomes)} checks passed")


def _row(outcome: Outcome) -> list[str]:
    return [outcome.name, value_text(outcome.reference), value_text(outcome.observed), points_text(outcome.change),
            points_text(outcome.allowed, signed=False), power_text(outcome), outcome.rule,
            "ok" if outcome.passed else "FAIL"]


HEADER = ["check", "reference", "observed", "change", "allowed", "power 0.5 / 1 pt", "rule", "result"]


def terminal_table(outcomes: Sequence[Outcome]) -> str:
    """Aligned columns, then one sentence per failure, then the verdict."""
    rows = [HEADER, *(_row(o) for o in outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines += [f"FAIL: {o.sentence}" for o in outcomes if not o.passed]
    lines.append(budget(outcomes))
    lines.append(f"fmbench check: {verdict(outcomes)}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_summary(outcomes: Sequence[Outcome], results: str, reference: str) -> str:
    """A GitHub-flavoured table for CI step summaries."""
    lines = [f"### fmbench check: {verdict(outcomes)}", "",
             f"Results `{_cell(results)}` against reference `{_cell(reference)}`; {budget(outcomes)}.", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for outcome in outcomes:
        cells = _row(outcome)
        cells[-1] = "ok" if outcome.passed else "**FAIL**"
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    failures = [o for o in outcomes if not o.passed]
    if failures:
        lines += ["", *(f"- {_cell(o.sentence)}" for o in failures)]
    return "\n".join(lines) + "\n"


def junit_xml(outcomes: Sequence[Outcome], suite: str) -> str:
    """One testcase per model and metric; a failure carries the sentence and both numbers."""
    failures = sum(not o.passed for o in outcomes)
    root = ET.Element("testsuites", name="fmbench check", tests=str(len(outcomes)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outcomes)), failures=str(failures),
                         errors="0", skipped="0", time="0")
    for outcome in outcomes:
        case = ET.SubElement(node, "testcase", classname=f"fmbench.{outcome.model}", name=outcome.metric,
                             time="0")
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=outcome.sentence, type="regression")
            failure.text = (f"reference={value_text(outcome.reference)} observed={value_text(outcome.observed)} "
                            f"change={points_text(outcome.change)} allowed={points_text(outcome.allowed, False)} "
                            f"power={power_text(outcome)} rule={outcome.rule}")
        ET.SubElement(case, "system-out").text = outcome.sentence
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
