"""One run per results folder: ``fmbench.lock`` names the process holding it (pid, host, start time).

Created with O_EXCL, so of two runs started together exactly one gets it. A lock whose process is
gone (same host, pid not running) is stale: taken over with a warning. A lock held from another host
cannot be checked from here and is never taken over.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError

LOCK_NAME = "fmbench.lock"


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _holder(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable or half-written: treated as stale
    return holder if isinstance(holder, dict) else None


def describe(holder: dict) -> str:
    return f"pid {holder.get('pid')} on {holder.get('host')} since {holder.get('started')}"


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
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                cls._take_over_if_stale(path, me["host"], warn)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(me, handle)
            return cls(path, me["pid"], created)
        raise BenchError(f"could not lock {folder}: {path} keeps reappearing", fix="is another run starting there?")

    @staticmethod
    def _take_over_if_stale(path: Path, host: str, warn) -> None:
        holder = _holder(path)
        if holder and (holder.get("host") != host or _alive(int(holder.get("pid") or 0))):
            raise BenchError(f"results folder {path.parent} is in use by fmbench ({describe(holder)})",
                             value=str(path), fix=f"wait for that run to finish, or if it is gone, delete {path}")
        warn(f"fmbench: taking over a stale lock {path} ({describe(holder) if holder else 'unreadable'}: "
             "that process is gone)")
        path.unlink(missing_ok=True)

    def release(self) -> None:
        holder = _holder(self.path)
        if holder and holder.get("pid") == self.pid:
            self.path.unlink(missing_ok=True)
        if self.created_folder and self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            self.path.parent.rmdir()
