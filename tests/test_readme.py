"""The README's Python examples and command lines, the `--help` examples and the files of
examples/ run as written (commands with a tiny budget: ``FASTWEIGHTS_MAX_STEPS``)."""

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastweights.cli import _parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
QUICK = {"FASTWEIGHTS_MAX_STEPS": "4", "OMP_NUM_THREADS": "1"}
#: Commands that need a run of their own kind first: the prefix of the command line, and the
#: `fastweights train` arguments that make it (``{run}``: the run folder the command names).
NEEDS_RUN = {"fastweights eval": ["--model.d_model=16"]}


def test_readme_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write runs/ write them here
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2, "README lost its python examples"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def readme_commands() -> list[str]:
    """Every line of the README's ```bash blocks that runs fastweights or torchrun (without
    its comment), in order."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line.strip().removeprefix("$ "))
            if re.match(r"(\.venv/bin/)?fastweights |torchrun ", line):
                lines.append(line.removeprefix(".venv/bin/"))
    return lines


def help_commands() -> list[str]:
    """Every ``Example: fastweights ...`` of the subcommands' descriptions and epilogs."""
    sub = next(a for a in _parser()._actions if a.dest == "command")
    found = []
    for p in sub.choices.values():
        text = " ".join(filter(None, (p.description, p.epilog)))
        found += [c.rstrip(".") for c in re.findall(r"Examples?:\s*(fastweights [^;\n]+)",
                                                   text)]
    return found


def demo_command() -> str:
    """The command `make demo` runs."""
    recipe = re.search(r"^demo:.*\n\t(.+)$", (ROOT / "Makefile").read_text(), flags=re.M)
    return recipe.group(1).replace("$(BIN)/", "")


def _quick(argv: list[str]) -> list[str]:
    """The budget flags a command takes besides the step cap."""
    if argv[:1] == ["bench"] and "--quick" not in argv:
        return argv + ["--quick"]
    if argv[:1] == ["reproduce"] and "--list" not in argv and "--quick" not in argv:
        return argv + ["--quick"]
    if argv[:2] == ["analyze", "decode"] and "--trials" not in argv:
        return argv + ["--trials", "64", "--shuffles", "1", "--stride", "4"]
    if argv[:1] in (["compare"], ["sweep"]) and "--workers" not in argv and "--ray" not in argv:
        return argv + ["--workers", "1"]  # in-process: no worker start-up to wait for
    return argv


def _prepare(line: str, argv: list[str]) -> None:
    """Make the earlier runs a command reads (``runs/...`` arguments that do not exist)."""
    for i, arg in enumerate(argv):
        if arg.startswith("runs/") and not Path(arg).exists() and argv[i - 1] != "--out":
            extra = next((v for k, v in NEEDS_RUN.items() if line.startswith(k)),
                         ["--model.d_model=16"])
            assert main(["train", *[a.format(run=arg) for a in extra], "--out", arg]) == 0


def test_every_command_runs(tmp_path, monkeypatch, capsys):
    commands = [demo_command(), *readme_commands(), *help_commands()]
    assert len(commands) >= 12, commands
    assert any("examples/sweep.toml" in c for c in commands)
    assert any("examples/experiment.toml" in c for c in commands)
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    for k, v in QUICK.items():
        monkeypatch.setenv(k, v)
    for line in commands:
        argv = shlex.split(line)
        if argv[0] == "torchrun":
            torchrun = Path(sys.executable).parent / "torchrun"
            env = os.environ | {"PYTHONPATH": str(ROOT / "src")}
            done = subprocess.run([str(torchrun), *argv[1:]], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert done.returncode == 0, f"{line}\n{done.stderr[-2000:]}"
            assert "2 ranks" in done.stderr
            continue
        assert argv[0] == "fastweights", line
        if "--ray" in argv and importlib.util.find_spec("ray") is None:
            with pytest.raises(SystemExit):
                main(argv[1:])
            assert "pip install 'fastweights[ray]'" in capsys.readouterr().err
            continue
        _prepare(line, argv[1:])
        try:
            code = main(_quick(argv[1:]))
        except SystemExit as e:
            code = e.code
        out = capsys.readouterr()
        assert code == 0, f"{line}\n{out.err[-2000:]}"


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "examples").glob("*.toml")))
def test_example_files_run(name, tmp_path, monkeypatch):
    """Each example file is referenced by the README and runs (quick; those that a README
    command runs are run by test_every_command_runs)."""
    assert f"examples/{name}" in README.read_text(), f"README does not mention {name}"
    if any(f"examples/{name}" in c for c in readme_commands()):
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTWEIGHTS_MAX_STEPS", "2")
    command = "sweep" if "sweep" in name else "train"
    assert main([command, str(ROOT / "examples" / name)]) == 0
