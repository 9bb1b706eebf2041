"""Bars of the runner: SIGKILL + resume, sweep kill + restart, two-process torchrun."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fastweights.analysis.plots import read_metrics
from fastweights.cli import main

TRAIN = ["--model.d_model=16", "--task.n_pairs=2", "--task.test_size=64", "--batch-size=8",
         "--train.warmup=2"]


def _fastweights(*args) -> subprocess.Popen:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "fastweights", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, proc, timeout=120.0):
    start = time.time()
    while not predicate():
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - start < timeout, "timed out"
        time.sleep(0.05)


def _wait_orphans_gone(out: Path, timeout: float = 30.0) -> None:
    """Until no run folder's lock names a live process (a worker polls for its dead parent
    every 0.5 s, which a loaded machine can stretch past a fixed sleep)."""
    def alive(lock: Path) -> bool:
        try:
            os.kill(json.loads(lock.read_text())["pid"], 0)
        except (OSError, ValueError, KeyError, TypeError):
            return False
        return True
    start = time.time()
    while any(alive(lock) for lock in out.glob("*/.lock")):
        assert time.time() - start < timeout, "orphaned workers did not exit"
        time.sleep(0.05)


def _final(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "time"} for r in read_metrics(run)]


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    args = ["train", *TRAIN, "--steps=160", "--eval-every=20"]
    proc = _fastweights(*args, "--out", str(tmp_path / "killed"))
    metrics = tmp_path / "killed" / "metrics.jsonl"
    _wait_for(lambda: metrics.exists() and metrics.read_text().count("\n") >= 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "killed" / "result.json").exists()
    assert main(["train", "--resume", str(tmp_path / "killed")]) == 0
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0
    assert _final(tmp_path / "killed") == _final(tmp_path / "whole")


def test_sweep_killed_and_restarted_finishes_each_run_once(tmp_path):
    out = tmp_path / "sweep"
    (tmp_path / "sweep.toml").write_text(f'''
out = "{out}"
workers = 2
models = ["deltanet", "lstm"]
tasks = ["assoc-retrieval"]
lrs = [3e-3]
seeds = [0, 1]
[model]
d_model = 16
[task]
n_pairs = 2
test_size = 64
[train]
steps = 60
eval_every = 20
batch_size = 8
''')
    proc = _fastweights("sweep", str(tmp_path / "sweep.toml"))
    _wait_for(lambda: any(out.glob("*/result.json")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    _wait_orphans_gone(out)  # orphaned workers notice the dead parent and exit
    assert main(["sweep", str(tmp_path / "sweep.toml")]) == 0
    results = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/result.json")}
    assert len(results) == 4
    assert all(results[name] == mtime for name, mtime in done.items())  # not run again
    for run in results:
        assert [r["step"] for r in read_metrics(out / run)] == [20, 40, 60]
    table = (out / "results.md").read_text()
    assert table.count("| assoc-retrieval |") == 2 and "| 2 |" in table
    assert (out / "results.csv").read_text().count("\n") == 3
    assert (out / "metric_vs_state_size.png").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo on Linux")
def test_torchrun_two_processes_matches_single(tmp_path):
    args = [*TRAIN, "--steps=20", "--eval-every=10", "--train.device=cpu"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                    "--master-port", "29517", "-m", "fastweights", "train", *args,
                    "--out", str(tmp_path / "ddp")], env=env, check=True,
                   capture_output=True, timeout=300)
    assert main(["train", *args, "--out", str(tmp_path / "single")]) == 0
    ddp, single = read_metrics(tmp_path / "ddp"), read_metrics(tmp_path / "single")
    assert [r["step"] for r in ddp] == [10, 20]
    for a, b in zip(ddp, single, strict=True):
        for key in ("train/loss", "test/loss", "test/accuracy"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key
