"""An exclusive lock on a run folder: one writing process at a time.

The lock is ``RUN_DIR/.lock``, created with ``O_EXCL`` and holding the owner's pid and host.
A second process gets a ``RunLocked`` error naming the owner. A lock whose process no longer
runs on this host (killed, crashed) is stale: it is taken over, with a note. The owner
touches the file every ``HEARTBEAT_S`` seconds, so a lock of another host (a cluster node,
with the folder on a shared file system) is stale once untouched for ``STALE_S`` seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from fastweights.train.errors import RunLocked

LOCK = ".lock"
HEARTBEAT_S, STALE_S = 10.0, 60.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _owner(path: Path) -> dict | None:
    try:
        owner = json.loads(path.read_text())
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


@contextlib.contextmanager
def run_lock(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock (creating the folder) for the ``with`` block."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path, me = run_dir / LOCK, {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _owner(path)
            if owner is None and _age(path) < 5.0:  # being written by its owner right now
                owner = {"pid": "(starting)", "host": me["host"]}
            elsewhere = owner is not None and owner.get("host") != me["host"]
            if owner is not None and ((elsewhere and _age(path) < STALE_S)
                                      or (not elsewhere and (not isinstance(owner["pid"], int)
                                                             or _alive(owner["pid"])))):
                raise RunLocked(f"{run_dir} is in use by process {owner['pid']} on "
                                f"{owner.get('host')}; wait for it to finish (or remove "
                                f"{path} if that process is gone)") from None
            print(f"note: {run_dir}: taking over a stale lock "
                  f"({'unreadable' if owner is None else 'process ' + str(owner['pid'])} "
                  f"has ended)",
                  file=sys.stderr)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise RunLocked(f"{run_dir}: could not take the lock {path}")
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(path, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        if _owner(path) == me:
            path.unlink()


def _heartbeat(path: Path, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        with contextlib.suppress(OSError):
            os.utime(path)
