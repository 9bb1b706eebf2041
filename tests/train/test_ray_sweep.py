"""`fastweights sweep --ray`: on a local Ray cluster of 2 CPUs started by the test, the same
results table as the local sweep, each run exactly once although a worker is killed mid-run
and the driver is killed and restarted; without Ray, an install hint."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fastweights.train.sweep import Sweep, run_sweep

SRC = Path(__file__).resolve().parents[2] / "src"
STEPS, EVERY = 60, 10
TABLE = ("model", "task", "lr", "params", "state_size", "n", "median", "min", "max", "std",
         "best_lr", "best_run")


def grid(out: Path) -> Sweep:
    return Sweep(models=["deltanet", "lstm"], tasks=["assoc-retrieval"], lrs=[3e-3],
                 seeds=[0, 1], model={"d_model": 16}, task={"n_pairs": 2, "test_size": 32},
                 train={"steps": STEPS, "eval_every": EVERY}, workers=2, out=str(out))


def steps_of(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text()
            .splitlines()]


def kill_when_mid_run(out: Path, pid_of, found: list) -> threading.Thread:
    """A thread that SIGKILLs ``pid_of(run_dir)`` once some run has a checkpoint but no
    result; the run's folder goes to ``found``."""
    def watch():
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not found:
            for d in out.glob("*/ckpt.pt"):
                run = d.parent
                pid = pid_of(run)
                if pid and not (run / "result.json").exists():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:  # a stale lock of an earlier attempt
                        continue
                    found.append(run)
                    return
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    return t


def lock_pid(run: Path) -> int | None:
    try:
        return json.loads((run / ".lock").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_without_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    from fastweights.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    path = tmp_path / "s.toml"
    path.write_text(f'out = "{tmp_path / "o"}"\nmodels = ["lstm"]\ntasks = ["copy"]\n')
    with pytest.raises(SystemExit):
        main(["sweep", str(path), "--ray"])
    assert "pip install 'fastweights[ray]'" in capsys.readouterr().err


def test_ray_sweep_matches_local_and_survives_kills(tmp_path):
    ray = pytest.importorskip("ray")
    local = run_sweep(grid(tmp_path / "local"), quiet=True)

    # the driver killed mid-run, then restarted: a subprocess with its own local cluster
    out = tmp_path / "ray"
    path = tmp_path / "sweep.toml"
    g = grid(out)
    path.write_text(f'out = "{out}"\nworkers = 2\nmodels = {json.dumps(g.models)}\n'
                    f'tasks = {json.dumps(g.tasks)}\nlrs = [3e-3]\nseeds = [0, 1]\n'
                    f'[model]\nd_model = 16\n[task]\nn_pairs = 2\ntest_size = 32\n'
                    f'[train]\nsteps = {STEPS}\neval_every = {EVERY}\n')
    env = os.environ | {"PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen([sys.executable, "-m", "fastweights", "sweep", str(path),
                               "--ray"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    found: list = []
    kill_when_mid_run(out, lambda run: driver.pid, found).join()
    driver.wait(timeout=60)
    assert found, "the driver finished before any run was mid-way"
    os.killpg(driver.pid, signal.SIGKILL)  # what a killed terminal takes with it

    # restarted in this process on a 2-CPU cluster; a worker is killed mid-run
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        killed: list = []
        watcher = kill_when_mid_run(out, lock_pid, killed)
        rows = run_sweep(g, quiet=True, ray="local")
        watcher.join(timeout=1)
    finally:
        ray.shutdown()
    assert killed, "no worker was killed mid-run"
    assert [{k: r[k] for k in TABLE} for r in rows] == [{k: r[k] for k in TABLE}
                                                          for r in local]
    for run in sorted(out.glob("*-s*")):  # each run once: every evaluation step exactly once
        assert steps_of(run) == list(range(EVERY, STEPS + 1, EVERY)), run.name
        mine = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
        theirs = [json.loads(x) for x in (tmp_path / "local" / run.name / "metrics.jsonl")
                  .read_text().splitlines()]
        assert [r["test/accuracy"] for r in mine] == [r["test/accuracy"] for r in theirs]
