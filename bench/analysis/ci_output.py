"""What ``fmbench check`` hands to people and CI systems: a terminal table, Markdown, JUnit XML.

All three write numbers with ``bench.format``, as the report and the comparison do, so a value reads the
same wherever it is looked up: accuracies "75.28 %", differences "-6.03 points", scores "0.9512". Each
statistical check shows its allowed drop and its chance of catching a drop of 0.5 and 1 point at the
spread it measured ("power", a lower bound: ``checks.conservative_std``), and the table ends with the
false-alarm budget the checks share, or, where ``--max-drop`` (or one seed a side) leaves a check's false
alarms unbounded, that no rate is promised. A model whose power to catch a 3-point drop is under 50 %
(``gate.model_power``) gets a warning in all three (a warning: the exit code stays).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence

from bench.analysis.checks import Outcome
from bench.analysis.gate import GATE_ALPHA, WARN_DROP, ModelPower
from bench.format import MISSING, metric, percent, plural, points, score

POWER_PROPERTY = "power_3pt"  # JUnit property per model: the chance of catching gate.WARN_DROP (3 points)


def value_text(outcome: Outcome, value: float | None) -> str:
    """A reference or observed value in its metric's unit (a worst seed is an accuracy)."""
    return MISSING if value is None else metric(outcome.metric, value)


def power_text(outcome: Outcome) -> str:
    """The chance of catching a drop of 0.5 and of 1 point, as "12 % / 40 %"; "—" where the check has none."""
    if not outcome.power or all(p is None for p in outcome.power):
        return MISSING
    return " / ".join("?" if p is None else percent(p, digits=0) for p in outcome.power)


def budget(outcomes: Sequence[Outcome]) -> str:
    """The false-alarm budget the statistical checks share (Bonferroni: their levels add up to it); no promise
    where a check's false alarms are unbounded (``--max-drop``: a fixed allowance, whatever the seeds spread)."""
    levels = [o.alpha for o in outcomes if o.alpha is not None]
    loose = Counter(o.unbounded for o in outcomes if o.unbounded)
    if loose:
        why = "; ".join(f"{reason}: {plural(n, 'check')}" for reason, n in loose.items())
        rest = (f"; the rest: Bonferroni over {plural(len(levels), 'statistical check')}, {percent(sum(levels))} "
                "together") if levels else ""
        return f"false alarms on unchanged code: not controlled, so no rate is promised ({why}){rest}"
    if not levels:
        return "no statistical check: seeds reproduce, --max-drop was given, or nothing to compare against"
    return (f"false alarms on unchanged code: at most {percent(GATE_ALPHA)} for the whole gate "
            f"(Bonferroni over {plural(len(levels), 'statistical check')}, {percent(sum(levels))} together)")


POWER_NOTE = ("power: the chance of catching the drops its heading names if the seed std is at the top of its "
              "80 % interval, so the true chance is at least that 90 % of the time")


def warnings(power: Sequence[ModelPower]) -> list[str]:
    """One line per model too unlikely to catch a 3-point drop: its power and what would fix it."""
    return [f"WARNING: {p.warning()}" for p in power if p.low]


def verdict(outcomes: Sequence[Outcome], power: Sequence[ModelPower] = ()) -> str:
    failed = sum(not o.passed for o in outcomes)
    text = (f"{failed} of {plural(len(outcomes), 'check')} failed" if failed
            else f"all {plural(len(outcomes), 'check')} passed")
    blind = [p.model for p in power if p.low]
    drop = points(WARN_DROP, signed=False)
    return text + (f"; warning: little power to catch a drop of {drop} ({', '.join(blind)})" if blind else "")


def _row(outcome: Outcome) -> list[str]:
    reference = value_text(outcome, outcome.reference)
    reference += f" ({outcome.reference_is})" if outcome.reference_is else ""
    return [outcome.name, reference, value_text(outcome, outcome.observed),
            points(outcome.change), points(outcome.allowed, signed=False), power_text(outcome), outcome.rule,
            "ok" if outcome.passed else "FAIL"]


HEADER = ["check", "reference", "observed", "change", "allowed", "power 0.5 / 1 point", "rule", "result"]


def terminal_table(outcomes: Sequence[Outcome], power: Sequence[ModelPower] = ()) -> str:
    """Aligned columns, then one sentence per failure, the low-power warnings, then the verdict."""
    rows = [HEADER, *(_row(o) for o in outcomes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines += [f"FAIL: {o.sentence}" for o in outcomes if not o.passed]
    lines += warnings(power)
    lines += [POWER_NOTE] if any(o.power for o in outcomes) else []
    lines.append(budget(outcomes))
    lines.append(f"fmbench check: {verdict(outcomes, power)}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_summary(outcomes: Sequence[Outcome], results: str, reference: str,
                     power: Sequence[ModelPower] = ()) -> str:
    """A GitHub-flavoured table for CI step summaries; low-power warnings right under the heading."""
    lines = [f"### fmbench check: {verdict(outcomes, power)}", ""]
    for warning in (p.warning() for p in power if p.low):  # one quote each: adjacent quote lines would merge
        lines += [f"> **Warning:** {_cell(warning)}", ""]
    lines += [f"Results `{_cell(results)}` against reference `{_cell(reference)}`; {budget(outcomes)}; "
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


def _properties(node: ET.Element, outcomes: Sequence[Outcome], power: Sequence[ModelPower]) -> None:
    """The suite's properties, first as the JUnit schema orders them: the false-alarm budget (or that none is
    promised), each model's power to catch 3 points (a fraction, for scripts) and its warning if low."""
    properties = ET.SubElement(node, "properties")
    ET.SubElement(properties, "property", name="false_alarms", value=budget(outcomes))
    for p in power:
        ET.SubElement(properties, "property", name=f"{POWER_PROPERTY}.{p.model}",
                      value=MISSING if p.power is None else score(p.power))
        if p.low:
            ET.SubElement(properties, "property", name=f"warning.{POWER_PROPERTY}.{p.model}", value=p.warning())


def junit_xml(outcomes: Sequence[Outcome], suite: str, power: Sequence[ModelPower] = ()) -> str:
    """One testcase per model and metric; a failure carries the sentence and both numbers. A low-power warning
    goes in the suite's properties and in the output of the model's test accuracy case and of the suite, which
    CI test views show (a warning, not a failure: the case still passes)."""
    failures = sum(not o.passed for o in outcomes)
    root = ET.Element("testsuites", name="fmbench check", tests=str(len(outcomes)), failures=str(failures))
    node = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outcomes)), failures=str(failures),
                         errors="0", skipped="0", time="0")
    _properties(node, outcomes, power)
    blind = {p.model: f"WARNING: {p.warning()}" for p in power if p.low}
    for outcome in outcomes:
        case = ET.SubElement(node, "testcase", classname=f"fmbench.{outcome.model}", name=outcome.metric,
                             time="0")
        if not outcome.passed:
            failure = ET.SubElement(case, "failure", message=outcome.sentence, type="regression")
            failure.text = "; ".join(f"{name}: {text}" for name, text in zip(HEADER[1:-1], _row(outcome)[1:-1],
                                                                              strict=True))
        warning = blind.get(outcome.model) if outcome.metric == "test_accuracy" else None
        ET.SubElement(case, "system-out").text = outcome.sentence + (f"\n{warning}" if warning else "")
    ET.SubElement(node, "system-out").text = "\n".join([*blind.values(), budget(outcomes)])
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
