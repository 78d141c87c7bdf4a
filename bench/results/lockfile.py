"""What a results folder's ``fmbench.lock`` says: who holds the folder, and whether that process lives.

Read here, below every reader, so ``load_study`` can say a study is still being written; taken and
released by ``bench.study.lock``.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

LOCK_NAME = "fmbench.lock"


def alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def holder(path: Path) -> dict | None:
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable or half-written: treated as stale
    return found if isinstance(found, dict) else None


def describe(found: dict) -> str:
    return f"pid {found.get('pid')} on {found.get('host')} since {found.get('started')}"


def state(found: dict | None) -> str:
    """'live' (this host, process running), 'gone' (this host, process ended, or unreadable) or 'elsewhere'."""
    if found is None:
        return "gone"
    if found.get("host") != socket.gethostname():
        return "elsewhere"
    try:
        return "live" if alive(int(found.get("pid") or 0)) else "gone"
    except (TypeError, ValueError):
        return "gone"
