"""One run per results folder: the lock names its holder, a dead holder's lock is taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from bench.errors import BenchError
from bench.study.lock import LOCK_NAME, StudyLock


def test_a_held_folder_is_refused_naming_the_holder(tmp_path):
    lock = StudyLock.acquire(tmp_path / "study")
    with pytest.raises(BenchError) as refused:
        StudyLock.acquire(tmp_path / "study")
    message = refused.value.message()
    assert f"is in use by fmbench (pid {lock.pid} on {socket.gethostname()} since " in message
    assert f"delete {tmp_path / 'study' / LOCK_NAME}" in message
    lock.release()
    assert not (tmp_path / "study").exists()  # made by the lock, left empty: removed with it


def test_a_lock_whose_process_is_gone_is_taken_over_with_a_warning(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": int(gone.stdout), "host": socket.gethostname(),
                                                  "started": "2026-01-01T00:00:00+00:00"}))
    warnings = []
    lock = StudyLock.acquire(tmp_path, warn=warnings.append)
    assert len(warnings) == 1 and "taking over a stale lock" in warnings[0] and gone.stdout.strip() in warnings[0]
    assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == lock.pid
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists() and tmp_path.exists()  # a folder it did not make stays


def test_a_lock_held_from_another_host_is_never_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere", "started": "then"}))
    with pytest.raises(BenchError, match="in use by fmbench \\(pid 1 on elsewhere since then\\)"):
        StudyLock.acquire(tmp_path)


def test_a_damaged_lock_file_counts_as_stale(tmp_path):
    (tmp_path / LOCK_NAME).write_text('{"pid": 12')
    warnings = []
    lock = StudyLock.acquire(tmp_path, warn=warnings.append)
    assert warnings == [f"fmbench: taking over a stale lock {tmp_path / LOCK_NAME} (unreadable: that process is gone)"]
    assert lock.pid == os.getpid() and json.loads((tmp_path / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
