"""Runs that never execute code from files, never lose work and never ignore a flag."""

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fastweights.cli import main

TINY = ["--model.d_model=16", "--task.n_pairs=2", "--task.test_size=32", "--batch-size=8",
        "--eval-every=2"]


def status(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:
        return e.code


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("fastweights: ")]
    assert len(lines) == 1 and "usage:" not in err and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "done"
    assert main(["train", *TINY, "--steps=4", "--out", str(run)]) == 0
    return run


def copy_run(finished: Path, tmp_path: Path, name: str = "run") -> Path:
    run = tmp_path / name
    shutil.copytree(finished, run)
    return run


class _CreatesFile:
    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def craft(path: Path, marker: Path) -> None:
    """A file that creates ``marker`` when unpickled without weights_only."""
    torch.save({"step": 2, "model": _CreatesFile(marker)}, path)


# 1. loading a checkpoint never executes code


@pytest.mark.parametrize("files, argv", [
    (["best.pt"], ["eval", "{run}"]),
    (["ckpt.pt"], ["eval", "{run}", "--checkpoint", "last"]),
    (["ckpt.pt", "ckpt.prev.pt"], ["eval", "{run}", "--checkpoint", "last"]),
    (["ckpt.pt"], ["train", "--resume", "{run}"]),
    (["ckpt.pt", "ckpt.prev.pt"], ["train", "--resume", "{run}"]),
])
def test_crafted_checkpoint_runs_nothing(finished, tmp_path, capsys, files, argv):
    run, marker = copy_run(finished, tmp_path), tmp_path / "pwned"
    (run / "result.json").unlink()  # as if killed: --resume reads the checkpoints
    for name in files:
        craft(run / name, marker)
    status([a.format(run=run) for a in argv])
    assert not marker.exists()
    assert f"{run / files[0]} is not a valid fastweights checkpoint" in capsys.readouterr().err


def test_garbage_best_is_one_line(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path)
    (run / "best.pt").write_bytes(b"\x80\x04garbage")
    assert status(["eval", str(run)]) == 2
    assert "best.pt is not a valid fastweights checkpoint" in one_error_line(
        capsys.readouterr().err)


# 2. --out into another experiment's folder


def test_out_into_another_experiment_is_refused(finished, tmp_path, capsys):
    run = copy_run(finished, tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert status(["train", *TINY, "--steps=6", "--out", str(run)]) == 2
    assert "holds a different experiment (differs in train.steps)" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    assert main(["train", *TINY, "--steps=6", "--out", str(run), "--overwrite"]) == 0
    assert json.loads((run / "result.json").read_text())["steps"] == 6


def test_default_run_folders_differ_by_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for lr in ("3e-3", "1e-3", "1e-3"):
        assert main(["train", *TINY, "--steps=2", "--lr", lr]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all("-2steps-s0-" in r for r in runs)
    assert {r.split("-lr")[1].split("-")[0] for r in runs} == {"0.003", "0.001"}


def test_out_naming_a_file(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    assert status(["train", *TINY, "--steps=2", "--out", str(tmp_path / "f")]) == 2
    assert "is an existing file" in capsys.readouterr().err


# 3. --resume with overrides


def test_resume_applies_more_steps_and_records_them(finished, tmp_path):
    run = copy_run(finished, tmp_path)
    assert main(["train", "--resume", str(run), "--steps=6"]) == 0
    assert json.loads((run / "result.json").read_text())["steps"] == 6
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["steps"] == 6
    assert config["changes"] == [{"at_step": 4, "train.steps": [4, 6]}]
    assert [json.loads(r)["step"] for r in (run / "metrics.jsonl").read_text().splitlines()] == \
        [2, 4, 6]


@pytest.mark.parametrize("flag, name", [("--lr=0.5", "train.lr"), ("--seed=7", "train.seed"),
                                        ("--model.d_model=32", "model.d_model")])
def test_resume_refuses_other_overrides(finished, tmp_path, capsys, flag, name):
    run = copy_run(finished, tmp_path)
    assert status(["train", "--resume", str(run), flag]) == 2
    assert f"--resume cannot change {name}" in capsys.readouterr().err


# 4. one process per run folder


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_process_is_refused_and_stale_locks_taken_over(tmp_path, capsys):
    from fastweights.train.lock import run_lock

    run = tmp_path / "run"
    with run_lock(run):
        assert status(["train", *TINY, "--steps=2", "--out", str(run)]) == 1
        assert f"{run} is in use by process {os.getpid()}" in one_error_line(
            capsys.readouterr().err)
        assert not (run / "config.json").exists()
    assert not (run / ".lock").exists()
    import socket

    (run / ".lock").write_text(json.dumps({"pid": _dead_pid(),
                                           "host": socket.gethostname()}))
    assert main(["train", *TINY, "--steps=2", "--out", str(run)]) == 0
    assert "taking over a stale lock" in capsys.readouterr().err


@pytest.mark.parametrize("grid", ['models = ["deltanet", "deltanet"]\nlrs = [1e-3]',
                                  'models = ["deltanet"]\nlrs = [1e-3, 0.001]'])
def test_sweep_never_runs_two_trainings_into_one_folder(tmp_path, capsys, grid):
    """A grid entry listed twice is refused (learning rates that only format alike get
    folders of their own: the name's hash tells them apart)."""
    (tmp_path / "s.toml").write_text(f'out = "{tmp_path / "s"}"\ntasks = ["assoc-retrieval"]\n'
                                     f'{grid}\n[train]\nsteps = 2\n')
    assert status(["sweep", str(tmp_path / "s.toml")]) == 2
    assert "would share the run folder" in capsys.readouterr().err
    assert not list(tmp_path.glob("s/*/config.json"))


# 5. divergence


def test_divergence_is_reported_as_such(tmp_path, capsys):
    run = tmp_path / "run"
    assert status(["train", *TINY, "--steps=30", "--lr=1e7", "--out", str(run)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "training diverged at step" in line and "became non-finite" in line
    assert "last good checkpoint (step " in line
    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] >= 2
    assert not (run / "result.json").exists()


def test_non_finite_activations_are_divergence(tmp_path, capsys, monkeypatch):
    """An op's input check that meets a NaN the model computed stops as divergence."""
    from fastweights.tasks.assoc_retrieval import AssocRetrieval

    calls, loss = {"n": 0}, AssocRetrieval.loss

    def raise_at_step_three(self, logits, targets):
        calls["n"] += 1
        if calls["n"] == 4:  # steps 1, 2, the evaluation at 2, step 3
            raise ValueError("q contains NaN or Inf values")
        return loss(self, logits, targets)

    monkeypatch.setattr(AssocRetrieval, "loss", raise_at_step_three)
    assert status(["train", *TINY, "--steps=6", "--out", str(tmp_path / "r")]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "diverged at step 3: activations became non-finite (q contains NaN" in line


# 6. one-line errors naming the file or field


@pytest.mark.parametrize("text, match", [
    ("{not json", "config.json is not valid JSON"),
    ('{"train": {}}', "config.json is incomplete: no model, task"),
    ('{"model": {"name": "deltanet", "d_model": "x"}, "task": {"name": "assoc-retrieval"}, '
     '"train": {}}', "model.d_model must be of type int"),
    ('[1, 2]', "must hold a JSON object"),
])
def test_bad_config_json(finished, tmp_path, capsys, text, match):
    run = copy_run(finished, tmp_path)
    (run / "config.json").write_text(text)
    assert status(["eval", str(run)]) == 2
    assert match in one_error_line(capsys.readouterr().err)


def test_checkpoint_of_another_model(finished, tmp_path, capsys):
    run, other = copy_run(finished, tmp_path), tmp_path / "lstm"
    assert main(["train", *TINY, "--model=lstm", "--steps=2", "--out", str(other)]) == 0
    shutil.copy(other / "best.pt", run / "best.pt")
    assert status(["eval", str(run)]) == 2
    assert "holds the weights of another model than config.json's 'deltanet'" in \
        one_error_line(capsys.readouterr().err)
    shutil.copy(other / "ckpt.pt", run / "ckpt.pt")
    (run / "result.json").unlink()
    assert status(["train", "--resume", str(run)]) == 2
    assert f"{run / 'ckpt.pt'} does not fit this experiment" in one_error_line(
        capsys.readouterr().err)


def test_eval_with_another_vocabulary(tmp_path, capsys):
    run = tmp_path / "copy"
    assert main(["train", "--task=copy", "--model.d_model=16", "--task.n_symbols=4",
                 "--task.n_copy=3", "--task.delay=2", "--task.test_size=8", "--steps=2",
                 "--eval-every=2", "--out", str(run)]) == 0
    assert status(["eval", str(run), "--task.n_symbols=6"]) == 2
    assert "the task overrides change what the model reads or predicts (input_size" in \
        capsys.readouterr().err


def test_binary_toml(tmp_path, capsys):
    (tmp_path / "x.toml").write_bytes(bytes(range(256)))
    assert status(["train", str(tmp_path / "x.toml")]) == 2
    assert "x.toml is not valid TOML" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("line, match", [('lrs = "0.1"', "sweep.lrs must be of type list"),
                                         ("seeds = [1.5]", r"sweep.seeds\[0\] must be of type int"),
                                         ('workers = "2"', "sweep.workers must be of type int")])
def test_sweep_fields_of_the_wrong_type(tmp_path, capsys, line, match):
    (tmp_path / "s.toml").write_text(f'models = ["deltanet"]\ntasks = ["assoc-retrieval"]\n'
                                     f'{line}\n')
    assert status(["sweep", str(tmp_path / "s.toml")]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_full_disk_names_the_file_and_the_way_out(tmp_path, capsys, monkeypatch):
    from fastweights.train import checkpoint

    real, calls = checkpoint._write_synced, {"n": 0}

    def full_after_two(obj, path):
        calls["n"] += 1
        if calls["n"] > 2:  # best.pt and ckpt.pt of step 2, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        real(obj, path)

    monkeypatch.setattr(checkpoint, "_write_synced", full_after_two)
    run = tmp_path / "run"
    assert status(["train", *TINY, "--steps=6", "--out", str(run)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"could not write {run}" in line and "No space left on device" in line
    assert f"the previous checkpoint {run / 'ckpt.pt'} is intact" in line
    assert f"fastweights train --resume {run}" in line
    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(checkpoint, "_write_synced", real)
    assert main(["train", "--resume", str(run)]) == 0


def test_ctrl_c_inside_a_checkpoint_write_is_an_interrupt(tmp_path, capsys, monkeypatch):
    from fastweights.train import checkpoint

    run = tmp_path / "run"
    assert main(["train", *TINY, "--steps=2", "--out", str(run)]) == 0

    def interrupted_save(obj, f):
        f.write(b"half a checkpoint")
        try:
            raise KeyboardInterrupt
        finally:  # what torch's zip writer raises while it closes the half-written file
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos")

    monkeypatch.setattr(checkpoint.torch, "save", interrupted_save)
    assert main(["train", "--resume", str(run), "--steps=4"]) == 130
    assert "fastweights: interrupted" in capsys.readouterr().err
    assert not (run / "ckpt.pt.tmp").exists()
    assert torch.load(run / "ckpt.pt", weights_only=True)["step"] == 2


@pytest.mark.parametrize("args, match", [
    (["--lengths", "0"], "--lengths must be integers >= 1, got 0"),
    (["--lengths", "64", "-1"], "--lengths must be integers >= 1, got -1"),
    (["--rules", "delta_rule", "nope"], "unknown rule(s) nope"),
])
def test_bench_ops_arguments(capsys, args, match):
    assert status(["bench", "ops", "--quick", *args]) == 2
    assert match in capsys.readouterr().err


# 8. Ctrl-C stops a sweep promptly


def test_sweep_stops_promptly_on_sigint(tmp_path):
    out = tmp_path / "s"
    (tmp_path / "s.toml").write_text(f'''
out = "{out}"
workers = 1
models = ["deltanet"]
tasks = ["assoc-retrieval"]
seeds = [0, 1, 2, 3]
[model]
d_model = 16
[task]
n_pairs = 2
test_size = 32
[train]
steps = 100000
eval_every = 5
batch_size = 8
''')
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    # the default Ctrl-C disposition, as from a terminal, even when the test runs in a
    # background job (which starts with SIGINT ignored, and its children inherit that)
    proc = subprocess.Popen([sys.executable, "-m", "fastweights", "sweep",
                             str(tmp_path / "s.toml")], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    start = time.time()
    while not list(out.glob("*/metrics.jsonl")) or not any(
            p.read_text() for p in out.glob("*/metrics.jsonl")):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() - start < 120
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    try:  # a sweep that went on would train 100,000 steps
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the sweep went on after Ctrl-C")
    assert proc.returncode != 0 and "interrupted" in proc.stderr.read()
    assert not list(out.glob("*/result.json"))
