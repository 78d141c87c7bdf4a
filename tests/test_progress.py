"""bench.progress: bars on a terminal, plain lines elsewhere, and the study's bar over its units."""

from __future__ import annotations

import io
import re

from bench.progress import Progress, StudyBar


class Terminal(io.StringIO):
    """What tqdm writes to a terminal, kept."""

    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frames(stream: io.StringIO) -> list[str]:
    """Each redraw of a bar, as the terminal last showed it."""
    return [frame for frame in stream.getvalue().split("\r") if frame.strip()]


def test_a_redirected_study_writes_one_plain_line_per_unit_and_no_escape_codes():
    log, clock = io.StringIO(), FakeClock()
    progress = Progress(stream=log)
    bar = StudyBar(progress, work_s=30.0, count=3, before_s=5.0, clock=clock)
    epochs = progress.bar(2, "baseline seed 0", "epoch")  # a unit's own bar: off in a log
    epochs.update(1)
    epochs.close()
    for finished_at in (10.0, 20.0, 30.0):
        clock.now = finished_at
        bar.advance(10.0)
    bar.finish()
    bar.close()
    assert log.getvalue().splitlines() == [
        "1/3 units, 33 % of the estimated work, 15 s so far, about 20 s left",  # 5 s of start-up before
        "2/3 units, 67 % of the estimated work, 25 s so far, about 10 s left",
        "3/3 units, 100 % of the estimated work, 35 s so far"]
    assert "\x1b" not in log.getvalue() and "\r" not in log.getvalue()


def test_on_a_terminal_the_unit_count_and_the_share_of_work_move_together():
    screen = Terminal()
    bar = StudyBar(Progress(stream=screen), work_s=40.0, count=4, clock=FakeClock())
    assert _frames(screen)[-1].startswith("0/4 units |")
    for done in range(1, 5):
        bar.advance(10.0)
        frame = _frames(screen)[-1]
        assert frame.startswith(f"{done}/4 units |") and f"| {25 * done:3d}% of the estimated work" in frame, frame
    bar.close()


def test_a_bar_shows_no_rate_and_no_time_left_before_its_first_step():
    screen = Terminal()
    bar = Progress(stream=screen).bar(36, "0/10 units", "s")
    first = _frames(screen)[-1]
    assert "?" not in first and first.endswith("0/36 [00:00]"), first
    bar.update(1)
    bar.refresh()
    assert re.search(r"\| 1/36 \[00:00<\S+, +[\d.]+s/s\]$", _frames(screen)[-1]), _frames(screen)[-1]
    bar.close()
    study = StudyBar(Progress(stream=screen), work_s=36.0, count=10, clock=FakeClock())
    assert _frames(screen)[-1].rstrip().endswith("0% of the estimated work [00:00]")
    study.close()


def test_the_estimated_total_is_printed_again_when_the_pace_since_the_first_unit_moves_it_by_over_30_percent():
    log, clock = io.StringIO(), FakeClock()
    bar = StudyBar(Progress(stream=log), work_s=40.0, count=4, before_s=10.0, estimate_s=30.0, clock=clock)
    clock.now = 20.0  # the first unit, one-time costs and all: no pace yet, nothing printed
    bar.advance(10.0)
    clock.now = 30.0  # the second, 10 s later: 2 more units at that pace, 10 + 30 + 20 = 60 s
    bar.advance(10.0)
    clock.now = 40.0  # still 60 s: nothing new to print
    bar.advance(10.0)
    lines = [line for line in log.getvalue().splitlines() if line.startswith("estimated")]
    assert lines == ["estimated total now 60 s at the pace of the first 2 of 4 units (was 30 s)"]
    assert bar.refreshed == [(60.0, 2)] and bar.projected_s() == 60.0


def test_quiet_prints_nothing_at_all():
    log, clock = io.StringIO(), FakeClock()
    progress = Progress(quiet=True, stream=log)
    bar = StudyBar(progress, work_s=10.0, count=1, estimate_s=1.0, clock=clock)
    clock.now = 10.0
    bar.advance(10.0)
    bar.finish()
    bar.close()
    progress.say("hello")
    assert log.getvalue() == ""
