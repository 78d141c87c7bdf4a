"""What ``fmbench check`` hands to people and CI systems: a terminal table, Markdown, JUnit XML.

All three write numbers with ``bench.format``, as the report and the comparison do, so a value reads the
same wherever it is looked up: accuracies "75.28 %", differences "-6.03 points", scores "0.9512". Each
statistical check shows its allowed drop and its chance of catching a drop of 0.5 and 1 point at the
spread it measured ("power", a lower bound: ``checks.conservative_std``), and the table ends with the
false-alarm budget the checks share.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence

from bench.analysis.checks import Outcome
from bench.analysis.gate import GATE_ALPHA
from bench.format import MISSING, metric, percent, plural, points


def value_text(outcome: Outcome, value: float | None) -> str:
    """A reference or observed value in its metric's unit (a worst seed is an accuracy)."""
    return MISSING if value is None else metric(outcome.metric, value)


def power_text(outcome: Outcome) -> str:
    """The chance of catching a drop of 0.5 and of 1 point, as "12 % / 40 %"; "—" where the check has none."""
    if not outcome.power or all(p is None for p in outcome.power):
        return MISSING
    return " / ".join("?" if p is None else percent(p, digits=0) for p in outcome.power)


def budget(outcomes: Sequence[Outcome]) -> str:
    """The false-alarm budget the statistical checks share (Bonferroni: their levels add up to it)."""
    levels = [o.alpha for o in outcomes if o.alpha is not None]
    if not levels:
        return "no statistical check: seeds reproduce, --max-drop was given, or nothing to compare against"
    return (f"false alarms on unchanged code: at most {percent(GATE_ALPHA)} for the whole gate "
            f"(Bonferroni over {plural(len(levels), 'statistical check')}, {percent(sum(levels))} together)")


POWER_NOTE = ("power: the chance of catching the drops its heading names if the seed std is at the top of its "
              "80 % interval, so the true chance is at least that 90 % of the time")


def verdict(outcomes: Sequence[Outcome]) -> str:
    failed = sum(not o.passed for o in outcomes)
    return (f"{failed} of {plural(len(outcomes), 'check')} failed" if failed
            else f"all {plural(len(outcomes), 'check')} passed")


def _row(outcome: Outcome) -> list[str]:
    return [outcome.name, value_text(outcome, outcome.reference), value_text(outcome, outcome.observed),
            points(outcome.change), points(outcome.allowed, signed=False), power_text(outcome), outcome.rule,
            "ok" if outcome.passed else "FAIL"]


HEADER = ["check", "reference", "observed", "change", "allowed", "power 0.5 / 1 point", "rule", "result"]


def terminal_table(outcomes: Sequence[Outcome]) -> str:
    """Aligned columns, then one sentence per failure, then the verdict."""
    rows = [HEADER, *(_row(o) for o in outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines += [f"FAIL: {o.sentence}" for o in outcomes if not o.passed]
    lines += [POWER_NOTE] if any(o.power for o in outcomes) else []
    lines.append(budget(outcomes))
    lines.append(f"fmbench check: {verdict(outcomes)}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_summary(outcomes: Sequence[Outcome], results: str, reference: str) -> str:
    """A GitHub-flavoured table for CI step summaries."""
    lines = [f"### fmbench check: {verdict(outcomes)}", "",
             f"Results `{_cell(results)}` against reference `{_cell(reference)}`; {budget(outcomes)}; "
             f"{POWER_NOTE}.", "",
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
            failure.text = "; ".join(f"{name}: {text}" for name, text in zip(HEADER[1:-1], _row(outcome)[1:-1],
                                                                              strict=True))
        ET.SubElement(case, "system-out").text = outcome.sentence
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
