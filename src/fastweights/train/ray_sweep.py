"""Sweeps on a Ray cluster: ``fastweights sweep FILE --ray [ADDRESS]``.

Each unfinished run of the grid becomes one Ray task that asks for ``train.threads`` CPUs
(and one GPU when the cluster has GPUs and ``train.device`` is not ``cpu``); the task sets
torch's intra-op threads to the CPUs Ray granted it and calls the same ``train(exp, out,
resume=True)`` as a local sweep worker, so run folders, metrics, tables and plots are the
local sweep's. ADDRESS is the cluster's (``ray start --head`` prints it; ``auto`` finds a
running one); without it, a cluster of ``workers x threads`` CPUs starts on this machine.

Results live in the sweep's ``out`` folder, which must be a shared directory (the same path
on every node: NFS, a cluster file system), not returned to the driver: the run-folder
lock, the checkpoints and ``result.json`` are what make each run happen exactly once, and a
task resumed on another node after its node was lost has to find the checkpoint its first
attempt wrote. A task first checks that it sees the driver's token in ``out``, so a path
that is not shared fails with that message instead of training into a private folder.

Exactly once: a finished run (``result.json``) is never submitted; a worker killed mid-run is
retried by Ray (``max_retries``) and resumes from its last checkpoint, taking over the dead
attempt's lock (same host: its pid is gone; another host: its heartbeat stopped); a killed
driver takes its tasks with it, and the restarted sweep skips what finished and resumes the
rest. A run that fails for a reason of its own (divergence, a bad file) is not retried: it is
counted as failed, the others go on, and the sweep ends with the list of failures.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
import sys
import time
from pathlib import Path

from fastweights.train.errors import RunError, RunLocked
from fastweights.train.shell import RESULT
from fastweights.train.sweep import Sweep, check_folders, collect, finished_line

RAY_HINT = "pip install 'fastweights[ray]'"
TOKEN = ".sweep-token"
#: Ray retries of a task whose worker process or node died.
MAX_RETRIES = 3
#: How long a task waits for the lock of an attempt that died on another host to go stale.
LOCK_WAIT_S = 180.0


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError(f"--ray needs Ray: {RAY_HINT}") from None
    return ray


def _train_task(name: str, exp, run_dir: str, token: str) -> dict:
    """One run, inside a Ray worker: check the shared folder, set the granted threads, train
    (resuming), wait out a dead attempt's lock on another host."""
    import ray

    from fastweights.train.supervised import train

    path = Path(run_dir)
    seen = path.parent / TOKEN
    if not seen.exists() or seen.read_text() != token:
        raise RunError(f"{path.parent} is not the driver's folder as seen from "
                       f"{socket.gethostname()}: a sweep on a cluster needs `out` on a "
                       f"shared directory that every node sees at the same path")
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    exp = dataclasses.replace(exp, train=dataclasses.replace(exp.train,
                                                             threads=max(1, int(cpus))))
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return train(exp, out=path, progress=name, resume=True)
        except RunLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(5.0)


def execute_on_ray(sweep: Sweep, address: str = "local", quiet: bool = False) -> list[dict]:
    """Run every unfinished configuration of ``sweep`` as a Ray task; return every run's
    summary in grid order (as ``sweep.execute``). ``address``: a cluster's address, or
    ``"local"`` to start one here (an already initialised Ray is used as it is)."""
    ray = _ray()
    from fastweights.train.lock import run_lock

    runs = sweep.experiments()
    out = Path(sweep.out)
    check_folders(runs, out)
    with run_lock(out):  # one driver per sweep
        todo = [(name, exp) for name, exp in runs if not (out / name / RESULT).exists()]
        if not quiet:
            print(f"{out}: {len(runs)} run(s), {len(runs) - len(todo)} already finished; "
                  f"Ray cluster {address}", flush=True)
        if todo:
            _submit_and_wait(ray, sweep, address, todo, out, quiet)
        return collect(runs, out)


def _submit_and_wait(ray, sweep: Sweep, address: str, todo: list, out: Path,
                     quiet: bool) -> None:
    if not ray.is_initialized():
        threads = todo[0][1].train.threads
        ray.init(**({"num_cpus": sweep.workers * threads} if address == "local"
                    else {"address": address}),
                 include_dashboard=False, logging_level="WARNING")
    token = secrets.token_hex(8)
    (out / TOKEN).write_text(token)
    gpus = ray.cluster_resources().get("GPU", 0) > 0
    task = ray.remote(max_retries=MAX_RETRIES, retry_exceptions=False)(_train_task)
    pending = {}
    for name, exp in todo:
        use_gpu = gpus and exp.train.device != "cpu"
        ref = task.options(num_cpus=exp.train.threads, num_gpus=1 if use_gpu else 0,
                           name=name).remote(name, exp, str(out / name), token)
        pending[ref] = name
    progress = _Progress(len(todo), out, quiet)
    failed: list[str] = []
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=2.0)
            for ref in done:
                name = pending.pop(ref)
                try:
                    progress.finished(name, ray.get(ref))
                except Exception as e:  # the run's own error, raised again in the driver
                    cause = getattr(e, "cause", None) or e
                    failed.append(f"{name}: {type(cause).__name__}: "
                                  f"{str(cause).splitlines()[-1][:200]}")
                    progress.failed(name)
            progress.show(list(pending.values()))
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        print(f"\ninterrupted: {out}: finished runs are kept, runs in flight resume from "
              f"their last checkpoint when the sweep is run again", file=sys.stderr,
              flush=True)
        raise
    if failed:
        raise RunError(f"{len(failed)} run(s) of the sweep failed:\n  " + "\n  ".join(failed))


class _Progress:
    """The driver's status line: queued / running / finished / failed, best metric so far.
    A run is running while its folder holds a lock (the folders are shared)."""

    def __init__(self, total: int, out: Path, quiet: bool):
        self.total, self.out, self.quiet = total, out, quiet
        self.n_finished = self.n_failed = 0
        self.best: tuple[float, float, str, str] | None = None  # (signed, value, metric, run)
        self.last = ""

    def finished(self, name: str, r: dict) -> None:
        self.n_finished += 1
        value = r["final"]["test/" + r["main_metric"]]
        signed = value if r["higher_is_better"] else -value
        if self.best is None or signed > self.best[0]:
            self.best = (signed, value, r["main_metric"], name)
        if not self.quiet:
            print(finished_line(name, r), flush=True)

    def failed(self, name: str) -> None:
        self.n_failed += 1

    def show(self, pending: list[str]) -> None:
        running = sum((self.out / name / ".lock").exists() for name in pending)
        line = (f"ray: {len(pending) - running} queued, {running} running, "
                f"{self.n_finished} finished, {self.n_failed} failed of {self.total}")
        if self.best is not None:
            line += f"; best test {self.best[2]} {self.best[1]:.3f} ({self.best[3]})"
        if line != self.last and not self.quiet:
            print(line, flush=True)
        self.last = line
