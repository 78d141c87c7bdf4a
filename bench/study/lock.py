"""One run per results folder: ``fmbench.lock`` names the process holding it (pid, host, start time).

Linked into place whole (atomic and exclusive), so of two runs started together exactly one gets it
and the other never reads it half-written. A lock whose process is
gone (same host, pid not running) is stale: taken over with a warning. A lock held from another host
cannot be checked from here and is never taken over.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.results.lockfile import LOCK_NAME, describe, holder, state


def _create(path: Path, me: dict) -> None:
    """Create ``path`` holding ``me`` whole, or raise FileExistsError. Written to a temp file, then
    hard-linked into place (atomic and exclusive): a lock created empty and written after could be read
    in between by a run started at the same moment, found unreadable, and taken over as stale."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(me, handle)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: create exclusively, then write
            with os.fdopen(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644), "w", encoding="utf-8") as f:
                json.dump(me, f)
    finally:
        os.unlink(tmp)


@dataclass
class StudyLock:
    path: Path
    pid: int
    created_folder: bool = False  # removed again on release if nothing was written there

    @classmethod
    def acquire(cls, folder: Path, warn=print) -> StudyLock:
        """Hold ``folder`` (created if needed) or raise a BenchError naming the holder."""
        created = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / LOCK_NAME
        started = datetime.now(UTC).isoformat(timespec="seconds")
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": started}
        for _ in range(3):
            try:
                _create(path, me)
            except FileExistsError:
                cls._take_over_if_stale(path, warn)
                continue
            return cls(path, me["pid"], created)
        raise BenchError(f"could not lock {folder}: {path} keeps reappearing", fix="is another run starting there?")

    @staticmethod
    def _take_over_if_stale(path: Path, warn) -> None:
        found = holder(path)
        if found and state(found) != "gone":
            raise BenchError(f"results folder {path.parent} is in use by fmbench ({describe(found)})",
                             value=str(path), fix=f"wait for that run to finish, or if it is gone, delete {path}")
        warn(f"fmbench: taking over a stale lock {path} ({describe(found) if found else 'unreadable'}: "
             "that process is gone)")
        path.unlink(missing_ok=True)

    def __enter__(self) -> StudyLock:
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def release(self) -> None:
        found = holder(self.path)
        if found and found.get("pid") == self.pid:
            self.path.unlink(missing_ok=True)
        if self.created_folder and self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()
