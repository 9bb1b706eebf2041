from fastweights.bench import envs as bench_envs
from fastweights.cli import main


def test_gate_passes_for_every_native_env():
    assert all(bench_envs.gate(name, steps=40) for name in bench_envs.NATIVE)


def test_bench_envs_quick(capsys):
    assert main(["bench", "envs", "--quick", "--sizes", "1,16"]) == 0
    out = capsys.readouterr().out
    assert "# fastweights bench envs" in out and "bar: the maze" in out
