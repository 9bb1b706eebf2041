"""The ops benchmark runs end to end in seconds and refuses speed-ups for a failing rule."""

import torch

from fastweights import bench
from fastweights.bench import ops as bench_ops
from fastweights.ops import RULES


def test_quick_run_prints_every_section(capsys):
    assert bench.main(["ops", "--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# fastweights bench ops\nmachine: ")
    assert f"torch {torch.__version__}" in out and "threads: 1" in out
    for section in ("Correctness gate", "Time per call", "Bar: delta_rule fwd+bwd",
                    "GFLOP/s", "peak RSS growth"):
        assert section in out
    assert "FAIL" not in out and "correctness check failed" not in out
    rows = [line for line in out.splitlines() if line.startswith("| delta_rule | chunk | 128")]
    assert len(rows) == 1 and rows[0].endswith("× |")


def test_failing_rule_gets_no_speed_up(capsys, monkeypatch):
    forms = RULES["sum_rule"].forms  # the dict the public function dispatches on
    good = forms["chunk"]

    def wrong_chunk(*args, **kwargs):
        o, S = good(*args, **kwargs)
        return o * 1.001, S

    monkeypatch.setitem(forms, "chunk", wrong_chunk)
    assert bench.main(["ops", "--quick", "--rules", "sum_rule"]) == 0
    out = capsys.readouterr().out
    assert "| sum_rule | chunk | 1.0e-03 | FAIL |" in out
    chunk_row = next(line for line in out.splitlines()
                     if line.startswith("| sum_rule | chunk | 128"))
    assert chunk_row.endswith("correctness check failed | correctness check failed |")
    parallel_row = next(line for line in out.splitlines()
                        if line.startswith("| sum_rule | parallel | 128"))
    assert parallel_row.endswith("× |")


def test_naive_baseline_matches_reference():
    delta = next(c for c in bench_ops.CASES if c.rule == "delta_rule")
    err = bench_ops.gate(delta, "baseline", fn=lambda x, s0: bench_ops.naive_chunk_delta_rule(
        *x, scale=x[0].shape[-1] ** -0.5, chunk_size=16, initial_state=s0))
    assert err <= 1e-10
