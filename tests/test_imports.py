"""report, compare, reference and check read result files: they never import TensorFlow, Keras or scikeras.

Each command runs on the studies committed under tests/data/ in a fresh interpreter, which then prints
every top-level module it loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from conftest import STUDIES

SMOKE_REFERENCE = STUDIES.parent / "smoke-reference.json"
LOADED = ("import sys; from bench.cli import main; rc = main(sys.argv[1:]); "
          "print(sorted({m.split('.')[0] for m in sys.modules})); sys.exit(rc)")
ML = {"tensorflow", "keras", "scikeras"}


def loaded_by(*args: str, cwd) -> tuple[subprocess.CompletedProcess, set[str]]:
    done = subprocess.run([sys.executable, "-c", LOADED, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600, check=False)
    modules = set(ast.literal_eval(done.stdout.strip().splitlines()[-1])) if done.stdout.strip() else set()
    assert "bench" in modules, (done.stdout, done.stderr)  # the list is the command's own
    return done, modules


def test_report_imports_no_tensorflow(tmp_path):
    done, modules = loaded_by("--quiet", "report", STUDIES / "tiny-a", "--out", tmp_path / "report", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "report.pdf").is_file()
    assert not modules & ML, sorted(modules & ML)


def test_compare_imports_no_tensorflow(tmp_path):
    done, modules = loaded_by("--quiet", "compare", STUDIES / "tiny-a", STUDIES / "tiny-b", "--out", tmp_path / "cmp",
                              cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert any((tmp_path / "cmp").glob("*.html"))
    assert not modules & ML, sorted(modules & ML)


def test_reference_and_check_import_no_tensorflow(tmp_path):
    done, modules = loaded_by("reference", STUDIES / "tiny-a", "--out", tmp_path / "ref.json", cwd=tmp_path)
    assert done.returncode == 0 and (tmp_path / "ref.json").is_file(), done.stderr
    assert not modules & ML, sorted(modules & ML)
    done, modules = loaded_by("check", STUDIES / "tiny-b", "--reference", tmp_path / "ref.json",
                              "--junit", tmp_path / "junit.xml", cwd=tmp_path)
    assert done.returncode == 0 and "fmbench check: all 8 checks passed" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "junit.xml").is_file()
    assert not modules & ML, sorted(modules & ML)
    # The committed smoke reference was made on the full test set: refused, before anything heavy either.
    done, modules = loaded_by("check", STUDIES / "tiny-a", "--reference", SMOKE_REFERENCE, cwd=tmp_path)
    assert done.returncode == 2 and "was tested on other data than" in done.stderr, done.stderr
    assert not modules & ML, sorted(modules & ML)


def test_trend_imports_no_tensorflow(tmp_path):
    """history add and trend read entry files: neither may start TensorFlow, Keras or scikeras."""
    history = tmp_path / "history"
    done, modules = loaded_by("history", "add", STUDIES / "tiny-a", "--commit", "0123456789abcdef",
                              "--history", history, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done, modules = loaded_by("--quiet", "trend", "--history", history, "--out", tmp_path / "trend", "--by", "machine",
                              cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "trend" / "trend.html").is_file() and (tmp_path / "trend" / "trend.pdf").is_file()
    assert not modules & ML, sorted(modules & ML)
