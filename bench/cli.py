"""The ``fmbench`` command: one small class per subcommand; main parses and delegates.

Exit codes: 0 ok, 1 internal failure (or a failed check), 2 bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError


class Command:
    """One subcommand: its arguments; ``check`` validates them (before TensorFlow is imported) and returns
    the request ``run`` carries out. What ``check`` takes hold of (a results folder's lock) it enters into
    ``held``, which main keeps open until ``run`` returns, however it ends (Ctrl-C during TensorFlow's import
    included)."""

    name = ""
    help = ""
    needs_tensorflow = False  # if so, main imports it (chatter hidden) after check() has passed

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        raise NotImplementedError

    def check(self, args: argparse.Namespace, held: contextlib.ExitStack) -> Any:
        """Validate every argument and the whole configuration; the request for ``run`` (here: the arguments)."""
        return args

    def threads(self, request) -> int | None:
        """TensorFlow's threads in this process (None: its default)."""
        return None

    def run(self, request) -> int:
        raise NotImplementedError


MAX_SEED = 2**32 - 1  # NumPy's and Keras' seeds are unsigned 32-bit integers
# Arguments that name files or folders: made absolute once, at the entry point, against the folder the
# command was typed in, so nothing later depends on the working directory (nor do subprocesses).
PATH_ARGUMENTS = ("out", "data_dir", "config", "results", "reference", "junit", "markdown")


class AtLeast:
    """argparse type: a whole number of at least ``least`` (pytest-benchmark's validating types), or 0
    where 0 means "skip it" (``zero``). argparse puts the flag in front of the message."""

    def __init__(self, least: int, zero: bool = False):
        self.least, self.zero, self.__name__ = least, zero, "integer"

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
        if value < self.least and not (self.zero and value == 0):
            raise argparse.ArgumentTypeError(f"must be at least {self.least}{' (or 0)' if self.zero else ''}; "
                                             f"got {value}")
        return value


class Share:
    """argparse type: a share of accuracy in [0, 1), or (0, 1) where 0 means nothing."""

    def __init__(self, what: str, zero: bool):
        self.what, self.zero, self.__name__ = what, zero, "number"

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
        if not (0 <= value < 1 if self.zero else 0 < value < 1):
            raise argparse.ArgumentTypeError(f"must be {self.what} in {'[' if self.zero else '('}0, 1) "
                                             f"(0.005 is half a point); got {text}")
        return value


def _seed_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be whole numbers; got {text!r}") from None


def model_names(given: list[str] | None, profile) -> list[str]:
    """--models as given, else the defaults plus the config's own models (tables naming a factory)."""
    if given:
        return list(given)
    from bench.profiles import DEFAULT_MODELS

    return [*DEFAULT_MODELS, *(name for name, table in profile.models.items() if "factory" in table)]


def _requests(args, setups) -> dict[str, str]:
    """Each model's --models entry, so a worker elsewhere can set the same model up by itself."""
    entries = {entry.partition("=")[0]: entry for entry in (args.models or [])}
    return {setup.name: entries.get(setup.name, setup.name) for setup in setups}


def _absolute(value):
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    if isinstance(value, (str, Path)) and str(value):
        absolute = os.path.abspath(os.path.expanduser(value))
        return Path(absolute) if isinstance(value, Path) else absolute
    return value


def absolute_paths(args: argparse.Namespace) -> None:
    """Every path argument and FMBENCH_DATA_DIR resolved against the current folder, once."""
    for name in PATH_ARGUMENTS:
        if getattr(args, name, None) is not None:
            setattr(args, name, _absolute(getattr(args, name)))
    from bench.data import ENV_VAR  # light: NumPy and the IDX parser, no TensorFlow

    if os.environ.get(ENV_VAR):
        os.environ[ENV_VAR] = _absolute(os.environ[ENV_VAR])


def writable_folder(path: Path, flag: str = "--out", example: str = "reports/NAME") -> None:
    """A folder we will write into: a folder already, or one we may make (its nearest existing parent is a
    folder we may write). Checked before any work: found only at the end, it was exit 1 'internal error'."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BenchError(f"{flag} must be a folder, but {path} is a file", fix=f"pass a folder such as {example}")
    _may_write_in(path, path, flag, f"pass a folder such as {example}")


def writable_file(path: Path, flag: str, example: str) -> None:
    """A file we will write (atomically: a temporary file beside it, then a rename), checked before any work."""
    path = Path(path)
    if path.is_dir():
        raise BenchError(f"{flag} must be a file, but {path} is a folder", fix=f"name a file such as {example}")
    _may_write_in(path.parent, path, flag, f"name a file such as {example}")


def _may_write_in(folder: Path, path: Path, flag: str, fix: str) -> None:
    """``folder``, or its nearest existing parent, is a folder we may write into (``path``: what is named)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise BenchError(f"{flag} {path} cannot be made: {existing} is a file, not a folder", fix=fix)
    # os.access, not a trial write: nothing is left behind. (It says yes to root on a read-only mode,
    # where writes do succeed; a read-only file system it refuses for root too.)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BenchError(f"{flag} {path} is not writable: no write permission in {existing}",
                         fix=f"choose another {flag}, or make {existing} writable")


def reach_scheduler(address: str | None, timeout_s: float = 3.0) -> None:
    """A TCP connect to a Dask scheduler before TensorFlow is imported: a wrong address fails in a moment
    (measured: 27.7 s when it was found by Dask's own 15 s timeout, after TensorFlow's start-up)."""
    import socket
    from urllib.parse import urlsplit

    if address is None or not address.startswith(("tcp://", "tls://")):
        return  # inproc:// and ucx:// are not reached over plain TCP: Dask checks them itself
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port or 8786  # 8786: Dask's default scheduler port
        if not host:
            raise ValueError("no host")
    except ValueError as exc:
        raise BenchError(f"--scheduler {address} is not a host and port ({exc})",
                         fix="give it as 'dask scheduler' prints it, e.g. tcp://10.0.0.5:8786") from exc
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        reason = f"no answer in {timeout_s:g} s" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise BenchError(f"cannot reach the Dask scheduler at {address}: {reason.lower()}",
                         fix="start it with 'dask scheduler' on that machine, or check --scheduler's host and "
                             "port") from exc


@dataclass(frozen=True)
class RunRequest:
    """What ``fmbench run`` carries out, built once from its arguments: the study, its data if on disk
    (None: Keras downloads it once TensorFlow is imported), the results folder's lock, and quiet mode."""

    config: Any  # bench.study.plan.StudyConfig (imported late: its imports cost 0.3 s of every instant error)
    dataset: Any  # bench.data.Dataset | None
    lock: Any  # bench.study.lock.StudyLock, held by main's ExitStack
    quiet: bool


class RunCommand(Command):
    name = "run"
    needs_tensorflow = True
    help = "run a study: train and evaluate models over seeds, write result files"

    def add_arguments(self, parser):
        parser.add_argument("--profile", default="smoke", help="smoke, quick or reference (default: smoke)")
        seeds = parser.add_mutually_exclusive_group()
        seeds.add_argument("--seeds", type=_seed_list, nargs="+", help="seeds, e.g. --seeds 0 1 2 or 0,1,2")
        seeds.add_argument("--n-seeds", type=AtLeast(1), help="use seeds 0..N-1 (default 1)")
        parser.add_argument("--models", nargs="+", default=None,
                            help="built-in models (baseline, tuned, cnn, logreg, hgb) and your own as "
                                 "NAME=path/to/file.py:function or NAME=package.module:function (default: baseline "
                                 "tuned, plus every [models.NAME] of --config that names a factory)")
        parser.add_argument("--out", type=Path, default=None, help="results folder (default results/<profile>)")
        parser.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST .gz files")
        parser.add_argument("--config", type=Path, default=None, help="TOML file overriding profile fields")
        parser.add_argument("--epochs", type=AtLeast(1), default=None, help="override the baseline's epochs")
        parser.add_argument("--tune-per-seed", action="store_true", help="repeat the grid search for each seed")
        parser.add_argument("--name", default="", help="study name (default: the --out folder's name)")
        parser.add_argument("--search", choices=("exhaustive", "halving"), default=None,
                            help="grid search: exhaustive GridSearchCV (the reference's) or successive halving "
                                 "(default: the profile's)")
        parser.add_argument("--save-models", action="store_true",
                            help="keep each trained model (<model>-seed<N>.keras, Keras' format) beside its result")
        add_require_official(parser)
        parser.add_argument("--resume", action="store_true",
                            help="finish the study already in --out (same command): skip what is done and valid")
        parser.add_argument("--threads-per-run", type=AtLeast(1), default=None,
                            help="TensorFlow threads per run, recorded in the study; results depend on it (default: "
                                 "TensorFlow's own, one per core; with --workers N: cores / N)")
        where = parser.add_mutually_exclusive_group()
        where.add_argument("--workers", type=AtLeast(1), default=None,
                           help="run units on a local Dask cluster of N worker processes")
        where.add_argument("--scheduler", default=None,
                           help="run units on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")

    def check(self, args, held):
        from bench import models, profiles
        from bench.data import check_folder, load_local, require_official

        overrides = {"baseline_epochs": args.epochs} if args.epochs is not None else {}
        if args.search is not None:
            overrides["search"] = args.search
        profile = profiles.resolve(args.profile, args.config, overrides)
        seeds = self._seeds(args)
        setups = models.resolve(model_names(args.models, profile), profile)
        out = args.out or Path(os.path.abspath(Path("results") / profile.name))
        threads = self._threads(args)
        writable_folder(out, example="results/NAME")
        check_folder(args.data_dir)
        reach_scheduler(args.scheduler)
        dataset = load_local(args.data_dir)  # a corrupt file is bad input too, found before TensorFlow
        if dataset is not None and args.require_official:  # (one downloaded through Keras is the official one)
            require_official(dataset)
        from bench.study.plan import StudyConfig  # here, not above: the checks before it answer 0.3 s sooner

        config = StudyConfig(profile=profile, seeds=seeds, setups=setups,
                                        out=out, data_dir=args.data_dir, tune_per_seed=args.tune_per_seed,
                                        study=args.name, command=sys.argv[1:], save_models=args.save_models,
                                        started_at=args.started_at, requests=_requests(args, setups),
                                        threads_per_run=threads, workers=args.workers, scheduler=args.scheduler,
                                        resume=args.resume)
        return RunRequest(config, dataset, self._claim(config, dataset, held), args.quiet)

    @staticmethod
    def _claim(config, dataset, held: contextlib.ExitStack):
        """Lock --out (first: a holder is named) until main is done, then refuse to overwrite a study, or to
        --resume another one."""
        from bench.study.lock import StudyLock
        from bench.study.resume import check_out_folder, existing_study

        lock = held.enter_context(StudyLock.acquire(config.out, warn=lambda line: print(line, file=sys.stderr)))
        check_out_folder(config.out, config.resume)
        if config.resume and dataset is not None:  # data still to download: the runner compares it later
            # Here, before TensorFlow (it was found after 9.7 s); the runner compares again once users'
            # models are built and their kinds known, which is a read of study.json.
            existing_study(config, dataset.digest, kinds_settled=False)
        return lock

    def run(self, request):
        from bench.format import plural
        from bench.models.user import finalize
        from bench.progress import Progress
        from bench.study.runner import run_study

        config = request.config
        config.setups = [finalize(setup) for setup in config.setups]  # imports and builds users' models once
        if request.dataset is not None:  # said once every check has passed: bad input stays one line
            say_official(request.dataset, False, request.quiet)
        _, failed = run_study(config, Progress(request.quiet), request.dataset, request.lock)
        if failed:
            print(f"fmbench run: {plural(len(failed), 'run')} failed: {', '.join(failed)}", file=sys.stderr)
        return 1 if failed else 0

    def threads(self, request):
        """Runs in this process take the study's count; with a cluster they run elsewhere."""
        config = request.config
        return None if config.workers or config.scheduler else config.threads_per_run

    @staticmethod
    def _threads(args) -> int | None:
        if args.scheduler is not None and not re.fullmatch(r"(tcp|tls|inproc|ucx)://\S+", args.scheduler):
            raise BenchError("--scheduler must be a Dask scheduler address", value=args.scheduler,
                             fix="give it as 'dask scheduler' prints it, e.g. tcp://10.0.0.5:8786")
        if args.threads_per_run is None and args.workers:
            return max(1, (os.cpu_count() or 1) // args.workers)  # workers share the cores, none oversubscribed
        return args.threads_per_run

    @staticmethod
    def _seeds(args) -> list[int]:
        if args.seeds:
            seeds = [s for group in args.seeds for s in group]
        else:
            seeds = list(range(1 if args.n_seeds is None else args.n_seeds))
        if len(set(seeds)) != len(seeds):
            raise BenchError("--seeds lists a seed twice", value=seeds)
        bad = [s for s in seeds if not 0 <= s <= MAX_SEED]
        if bad:
            raise BenchError(f"seed {bad[0]} is outside 0..{MAX_SEED}", value=bad[0],
                             fix="seeds are unsigned 32-bit integers; pick seeds in that range")
        return seeds


class DataCommand(Command):
    name = "data"
    help = "print the dataset summary: counts, shapes, class balance, pixel statistics, source"

    def add_arguments(self, parser):
        parser.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST .gz files")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")
        add_require_official(parser)

    def run(self, args):
        from bench.data import load_dataset, summarize

        dataset = load_dataset(args.data_dir)
        say_official(dataset, args.require_official, quiet=True)  # the summary says it, on stdout
        summary = summarize(dataset)
        print(json.dumps(summary, indent=1) if args.json else format_summary(summary))
        return 0


def add_require_official(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--require-official", action="store_true",
                        help="data that is not the official Fashion-MNIST (by its published SHA-256) is an error")


def say_official(dataset, required: bool, quiet: bool) -> None:
    """One line on stderr: the official Fashion-MNIST (unless quiet), or a warning naming the first file that
    is not (always); with --require-official, not official is bad input (exit 2)."""
    from bench.data import official_line, require_official, unofficial_files

    if required:
        require_official(dataset)
    if unofficial_files(dataset.file_sha256) or not quiet:
        print(f"fmbench: {official_line(dataset)}", file=sys.stderr)


def format_summary(summary: dict) -> str:
    lines = [f"Fashion-MNIST from {summary['location']} ({summary['source']})", f"digest {summary['digest']}",
             "official Fashion-MNIST: " + ("yes, all four files match its published SHA-256" if summary["official"]
                                           else "NO, see the warning above")]
    for part in ("train", "test"):
        info, px = summary[part], summary[part]["pixels"]
        shape = "x".join(str(d) for d in info["shape"][1:])
        lines.append(f"{part:5s}: {info['count']} images of {shape}, pixel mean {px['mean']:.2f} std {px['std']:.2f} "
                     f"(scaled {px['mean_scaled']:.4f} / {px['std_scaled']:.4f}), range {px['min']}-{px['max']}")
    lines.append("class balance (train / test):")
    for name, n_train, n_test in zip(summary["class_names"], summary["train"]["class_counts"],
                                     summary["test"]["class_counts"], strict=True):
        lines.append(f"  {name:12s} {n_train:6d} / {n_test:5d}")
    return "\n".join(lines)


class ReferenceCommand(Command):
    name = "reference"
    help = "store a study's per-seed accuracies as the reference that 'fmbench check' gates against"

    def add_arguments(self, parser):
        parser.add_argument("results", type=Path, help="results folder written by 'fmbench run'")
        parser.add_argument("--out", type=Path, required=True, help="reference file to write (JSON)")

    def check(self, args, held):
        writable_file(args.out, "--out", "reference.json")
        return args

    def run(self, args):
        from bench.analysis import gate
        from bench.results import load_study

        reference = gate.build_reference(load_study(args.results))
        gate.write_reference(reference, args.out)
        if not args.quiet:
            print(f"wrote {args.out}: profile {reference.profile}, models {', '.join(reference.models)}, "
                  f"seeds {', '.join(map(str, reference.seeds))}")
        return 0


class CheckCommand(Command):
    name = "check"
    help = ("exit 1 if a study regressed against a reference file or its recent history (accuracy, overfitting gap, "
            "optionally per-class F1)")

    def add_arguments(self, parser):
        parser.add_argument("results", type=Path, help="results folder written by 'fmbench run'")
        against = parser.add_mutually_exclusive_group(required=True)
        against.add_argument("--reference", type=Path, default=None, help="file written by 'fmbench reference'")
        against.add_argument("--history", nargs="?", const="", default=None, metavar="LOCATION",
                             help="pool the reference from the history store: the last --window entries of this "
                                  "branch, machine, stack, profile, settings and data (LOCATION: a folder or fsspec "
                                  "URL; default $FMBENCH_HISTORY, else .fmbench/history)")
        parser.add_argument("--window", type=AtLeast(1), default=None,
                            help="with --history: history entries pooled per model, at most (default 10)")
        parser.add_argument("--branch", default=None, help="with --history: the branch whose history to pool "
                                                           "(default: the checkout's)")
        parser.add_argument("--bootstrap", action="store_true",
                            help="with --history: pass a machine, stack or model without history yet (records "
                                 "nothing: 'fmbench history add' does)")
        parser.add_argument("--max-drop", type=Share("a fraction of accuracy", zero=True), default=None,
                            help="allowed drop, used exactly, e.g. 0.005; no false-alarm rate is then promised "
                                 "(default: per model, a one-sided t margin "
                                 "from its own seed spread with one 1%% false-alarm budget for the whole gate; see "
                                 "README, 'Regression gate')")
        parser.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
        parser.add_argument("--markdown", type=Path, default=None, help="write a Markdown summary here")
        parser.add_argument("--per-class", action="store_true", help="also gate every class's F1")

    def check(self, args, held):
        for flag, path, example in (("--junit", args.junit, "report.xml"), ("--markdown", args.markdown, "gate.md")):
            if path is not None:
                writable_file(path, flag, example)
        if args.history is not None:
            from bench.analysis.history_gate import current_branch
            from bench.results.history import HistoryStore, resolve_location

            args.store, args.branch = HistoryStore(resolve_location(args.history or None)), current_branch(args.branch)
            return args
        given = [flag for flag, value in (("--window", args.window), ("--branch", args.branch),
                                          ("--bootstrap", args.bootstrap or None)) if value is not None]
        if given:
            one = len(given) == 1
            raise BenchError(f"{', '.join(given)} {'applies' if one else 'apply'} only to --history",
                             fix=f"drop {'it' if one else 'them'}, or pass --history")
        # The gate's statistics import SciPy and statsmodels (1.6 s): a missing reference is found without them.
        if not args.reference.exists():
            raise BenchError(f"reference file missing: {args.reference}", fix="make one with 'fmbench reference'")
        if args.reference.is_dir():
            raise BenchError(f"--reference must be a file, but {args.reference} is a folder",
                             fix="pass the file that 'fmbench reference --out' wrote")
        return args

    @staticmethod
    def _against_history(args, study):
        """The checks against the pooled history, the lines to print before the table, the reference's name, the
        models' power to catch a 3-point drop."""
        from bench.analysis import history_gate

        found = history_gate.gate_against_history(args.store, study, args.branch, args.window or history_gate.WINDOW,
                                                  args.max_drop, args.per_class, args.bootstrap)
        return found.checks, found.lines, found.label, found.power

    def run(self, args):
        from bench.analysis import ci_output, gate
        from bench.results import load_study, write_bytes_atomic

        study = load_study(args.results)
        if args.history is not None:
            checks, lines, label, power = self._against_history(args, study)
        else:
            reference = gate.read_reference(args.reference)
            gate.ensure_comparable(reference, study, args.reference)
            checks = gate.build_checks(reference, study, args.max_drop, args.per_class)
            lines, label, power = [], str(args.reference), gate.model_power(checks)
        outcomes = gate.run_checks(checks)
        if args.junit:
            write_bytes_atomic(args.junit, ci_output.junit_xml(outcomes, f"{args.results} vs {label}", power))
        if args.markdown:
            write_bytes_atomic(args.markdown, ci_output.markdown_summary(outcomes, str(args.results), label, power))
        table = ci_output.terminal_table(outcomes, power)
        passed = all(o.passed for o in outcomes)
        brief = [*ci_output.warnings(power), *table.splitlines()[-1:]]  # --quiet keeps warnings: CI logs show them
        print("\n".join(brief) if args.quiet and passed else "\n".join([*lines, table]))
        return 0 if passed else 1


class CompareCommand(Command):
    name = "compare"
    help = "compare studies (machines, backends, versions): HTML + PDF with differences, p-values, churn, speed"

    def add_arguments(self, parser):
        parser.add_argument("results", type=Path, nargs="+", help="two or more results folders; the first is A")
        parser.add_argument("--out", type=Path, default=None, help="report folder (default reports/compare-A-vs-B)")
        parser.add_argument("--detect", type=Share("an accuracy difference", zero=False), default=0.005,
                            help="accuracy difference the seeds advice is sized for (default 0.005)")

    def check(self, args, held):
        if args.out is not None:
            writable_folder(args.out)
        return args

    def run(self, args):
        from bench.analysis.compare import compare, load_studies
        from bench.analysis.compare_verdict import verdict
        from bench.report.compare import write_comparison

        studies = load_studies(args.results)
        out = args.out or Path("reports") / ("compare-" + "-vs-".join(s.folder.name for s in studies[:2]))
        writable_folder(out)  # the default, known once the studies are read: still before the work of rendering
        comparison = compare(studies, args.detect)
        html, pdf = write_comparison(comparison, out)
        if not args.quiet:
            print(f"wrote {html} and {pdf}")
        print(verdict(comparison))  # the result itself, not progress: --quiet keeps it
        return 0


class ReportCommand(Command):
    name = "report"
    help = "render a study's report (HTML and PDF) from its result files"

    def add_arguments(self, parser):
        parser.add_argument("results", type=Path, nargs="+",
                            help="results folder(s) written by 'fmbench run'; runs of the same study are merged")
        parser.add_argument("--out", type=Path, default=None,
                            help="report folder for report.html / report.pdf (default reports/<study name>)")
        parser.add_argument("--html", action="store_true", help="write the HTML (default: both HTML and PDF)")
        parser.add_argument("--pdf", action="store_true", help="write the PDF (default: both HTML and PDF)")
        parser.add_argument("--strict", action="store_true", help="an invalid result file is an error (exit 2)")

    def check(self, args, held):
        if args.out is not None:
            writable_folder(args.out)
        return args

    def run(self, args):
        import time

        from bench.report.build import build_report
        from bench.report.render import default_out, write_report

        start = time.perf_counter()
        report = build_report(args.results, strict=args.strict)
        built_s = time.perf_counter() - start
        out = args.out or default_out(report)
        writable_folder(out)  # the default, known once the studies are read: still before rendering
        for problem in report.problems:
            print(f"fmbench report: warning: {problem}", file=sys.stderr)
        both = not (args.html or args.pdf)
        rendered = write_report(report, out, html=both or args.html, pdf=both or args.pdf)
        rendered.seconds = {"data and figures": built_s, **rendered.seconds}
        if not args.quiet:
            print(f"wrote {' and '.join(map(str, rendered.paths))}; {rendered.describe()}")
        return 0


@dataclass(frozen=True)
class PerfRequest:
    """``fmbench perf``'s arguments with the models they name, resolved, and the data if on disk."""

    args: argparse.Namespace
    setups: list
    dataset: Any  # bench.data.Dataset | None


class PerfCommand(Command):
    name = "perf"
    needs_tensorflow = True
    help = ("time plain Keras fit vs the fast path, the FLOP/s limit and one grid stage (exhaustive vs halving); "
            "writes perf.json")

    def add_arguments(self, parser):
        from bench.profiles import PERF_MODELS

        parser.add_argument("--models", nargs="+", default=list(PERF_MODELS),
                            help="Keras models to time: built-in (baseline, tuned, cnn) or NAME=FILE.py:function")
        parser.add_argument("--batch-size", type=AtLeast(1), default=32, help="training batch size (default 32)")
        parser.add_argument("--epochs", type=AtLeast(1), default=3, help="epochs per timed fit (default 3)")
        parser.add_argument("--n-seeds", type=AtLeast(1), default=3, help="seeds 0..N-1 per path (default 3)")
        parser.add_argument("--n-train", type=AtLeast(100), default=None,
                            help="training images (default all 60,000)")
        parser.add_argument("--search-n-train", type=AtLeast(300, zero=True), default=36000,
                            help="images for the timed grid stage (default 36000; 0 skips it)")
        parser.add_argument("--search-epochs", type=AtLeast(1), default=10,
                            help="epochs per grid-stage fit (default 10)")
        parser.add_argument("--out", type=Path, default=Path("results/perf"), help="folder for perf.json")
        parser.add_argument("--data-dir", default=None, help="folder with the four Fashion-MNIST .gz files")

    def check(self, args, held):
        from bench import models, profiles
        from bench.data import check_folder, load_local

        setups = models.resolve(args.models, profiles.resolve("reference"))
        untimed = [s.name for s in setups if not s.spec.family.perf_paths]
        if untimed:
            raise BenchError(f"fmbench perf times Keras models; {untimed[0]} is a scikit-learn estimator",
                             fix="leave it out of --models")
        writable_folder(args.out, example="results/perf")
        check_folder(args.data_dir)
        dataset = load_local(args.data_dir)  # as for run: a corrupt file is found before TensorFlow (was 9.1 s)
        return PerfRequest(args, setups, dataset)

    def run(self, request):
        from bench.models.user import finalize
        from bench.progress import Progress
        from bench.train.perf import PerfConfig, format_perf, run_perf

        args = request.args
        setups = [finalize(setup) for setup in request.setups]
        if not all(s.spec.family.perf_paths for s in setups):
            raise BenchError("fmbench perf times Keras models; a --models factory returned an estimator")
        config = PerfConfig(setups=setups, batch_size=args.batch_size, epochs=args.epochs,
                            seeds=list(range(args.n_seeds)), n_train=args.n_train,
                            search_n_train=args.search_n_train, search_epochs=args.search_epochs,
                            data_dir=args.data_dir, out=args.out)
        result = run_perf(config, Progress(args.quiet), request.dataset)
        print(format_perf(result))
        if not args.quiet:
            print(f"wrote {args.out / 'perf.json'}")
        return 0


class HistoryCommand(Command):
    """``fmbench history add`` records a finished study in the history store; ``list`` shows the store."""

    name = "history"
    help = "record studies across commits (add) and list them (list); see bench/results/history.py"

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        add = actions.add_parser("add", help="record one complete, verified study as a history entry")
        add.add_argument("results", type=Path, help="results folder written by 'fmbench run'")
        add.add_argument("--commit", default=None, help="the commit it ran (default: HEAD of this folder's checkout)")
        add.add_argument("--branch", default=None, help="its branch (default: the checkout's, if HEAD is that commit)")
        show = actions.add_parser("list", help="list the entries, in commit-time order")
        show.add_argument("--model", default=None, help="only entries that ran this model")
        show.add_argument("--machine", default=None, help="only this machine fingerprint (its id, as listed)")
        show.add_argument("--branch", default=None, help="only this branch")
        show.add_argument("--since", default=None, help="only commits on or after this ISO date (2026-11-30)")
        for child in (add, show):
            child.add_argument("--history", default=None,
                               help="the store: a folder or fsspec URL (default: $FMBENCH_HISTORY, else "
                                    ".fmbench/history)")
            child.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                               help="no progress bars or chatter (for CI)")

    def check(self, args, held):
        from bench.results.history import HistoryStore, git_info, parse_since, resolve_location

        store = HistoryStore(resolve_location(args.history))
        if args.action == "list":
            parse_since(args.since)
            return args, store, None
        if store.local:
            writable_folder(Path(store.root), "--history", ".fmbench/history")
        return args, store, git_info(Path.cwd(), args.commit, args.branch)

    def run(self, request):
        from bench.results import load_study
        from bench.results.history import entry_from_study, format_entries

        args, store, git = request
        if args.action == "list":
            print(format_entries(store.entries(model=args.model, machine_id=args.machine, branch=args.branch,
                                               since=args.since), store.location))
            return 0
        path, created = store.add(entry_from_study(load_study(args.results, strict=True), git))
        print(f"added {path}" if created else f"unchanged {path} (already recorded)")
        return 0


class TrendCommand(Command):
    """``fmbench trend``: the history store as a page per model (HTML + PDF); see bench/analysis/trend.py."""

    name = "trend"
    help = "render the history across commits (HTML + PDF): accuracy, speed, detected changes, machines side by side"

    def add_arguments(self, parser):
        parser.add_argument("--history", default=None,
                            help="the store: a folder or fsspec URL (default: $FMBENCH_HISTORY, else .fmbench/history)")
        parser.add_argument("--out", type=Path, default=Path("reports/trend"),
                            help="folder for trend.html and trend.pdf (default reports/trend)")
        parser.add_argument("--model", nargs="+", default=None, help="only these models (default: every one)")
        parser.add_argument("--machine", default=None, help="only this machine fingerprint (its id, as listed)")
        parser.add_argument("--branch", default=None, help="only this branch")
        parser.add_argument("--since", default=None, help="only commits on or after this ISO date (2026-11-30)")
        parser.add_argument("--window", type=AtLeast(1), default=10,
                            help="commits before the latest one it is compared with (default 10)")
        parser.add_argument("--reports-base", default=None,
                            help="link each commit to its study's report: URL/<commit>/report.html, or a URL with "
                                 "{commit}, {short}, {study} or {branch} (http(s) or relative only)")
        parser.add_argument("--by", choices=("machine",), default=None,
                            help="--by machine: also print the latest figures of every machine and stack")

    def check(self, args, held):
        from bench.report.links import check_reports_base
        from bench.results.history import HistoryStore, parse_since, resolve_location

        parse_since(args.since)
        check_reports_base(args.reports_base)
        writable_folder(args.out, example="reports/trend")
        return args, HistoryStore(resolve_location(args.history))

    @staticmethod
    def _filters(args) -> str:
        named = [("--model", " ".join(args.model) if args.model else None), ("--machine", args.machine),
                 ("--branch", args.branch), ("--since", args.since)]
        return ", ".join(f"{flag} {value}" for flag, value in named if value)

    def run(self, request):
        from bench.analysis.trend import build_trend, format_by_machine
        from bench.report.trend import write_trend

        args, store = request
        start = time.perf_counter()
        entries = store.entries(machine_id=args.machine, branch=args.branch, since=args.since)
        trend = build_trend(entries, args.model, args.window)
        analysed_s = time.perf_counter() - start
        if not trend.entries:
            filters = self._filters(args)
            raise BenchError(f"no history entries in {store.location}" + (f" match {filters}" if filters else ""),
                             fix="record studies with 'fmbench history add RESULTS_DIR', or loosen the filters "
                                 "('fmbench history list' shows what is there)")
        rendered = write_trend(trend, args.out, store.location, self._filters(args), args.reports_base)
        rendered.seconds = {"history and changes": analysed_s, **rendered.seconds}
        if args.by == "machine":
            print(format_by_machine(trend.by_machine))
        if not args.quiet:
            print(f"wrote {' and '.join(map(str, rendered.paths))}; {rendered.describe()}")
        return 0


COMMANDS: list[Command] = [RunCommand(), DataCommand(), ReferenceCommand(), CheckCommand(), CompareCommand(),
                           ReportCommand(), PerfCommand(), HistoryCommand(), TrendCommand()]


class Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, as every other error (its own is a 9-line usage block, then the
    error); the subcommands' parsers are of this class too (add_subparsers makes its parent's class)."""

    def error(self, message: str):
        # "argument --epochs: must be at least 1; got 0" reads as every other error: "--epochs must be ..."
        message = re.sub(r"^argument (--[\w-]+)(?:/[-\w]+)*: must ", r"\1 must ", " ".join(message.split()))
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="fmbench", description="Benchmark and report on Fashion-MNIST classifiers.")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars or chatter (for CI)")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        child.add_argument("--quiet", "-q", action="store_true", default=argparse.SUPPRESS,
                           help="no progress bars or chatter (for CI)")
        command.add_arguments(child)
        child.set_defaults(handler=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    started_at = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ chatter is not for users
    args = build_parser().parse_args(argv)
    args.started_at = started_at
    try:
        absolute_paths(args)
        with contextlib.ExitStack() as held:
            request = args.handler.check(args, held)
            if args.handler.needs_tensorflow:
                from bench import tfruntime

                tfruntime.start(args.handler.threads(request))
            return args.handler.run(request)
    except BenchError as exc:
        if args.debug:
            raise
        print(f"fmbench {args.command}: error: {exc.message()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"fmbench {args.command}: interrupted; results already written are kept", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"fmbench {args.command}: internal error: {type(exc).__name__}: {exc} (rerun with --debug for "
              "the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
