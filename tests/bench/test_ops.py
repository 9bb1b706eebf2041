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
    for section in ("estimated run time", "Correctness gate", "Time per call", "Peers",
                    "Bar: delta_rule fwd+bwd", "GFLOP/s", "peak RSS growth"):
        assert section in out
    assert "FAIL" not in out and "correctness check failed" not in out
    for regime in ("small", "large"):
        rows = [line for line in out.splitlines()
                if line.startswith(f"| delta_rule | {regime} | 128 | chunk/64 |")]
        assert len(rows) == 1 and rows[0].endswith("× |")
        auto = [line for line in out.splitlines()
                if line.startswith(f"| delta_rule | {regime} | 128 | auto → ")]
        assert len(auto) == 1 and auto[0].endswith("× |")


def test_csv_has_every_timed_row(tmp_path, capsys):
    path = tmp_path / "ops.csv"
    assert bench.main(["ops", "--quick", "--rules", "delta_rule", "--regimes", "small",
                       "--csv", str(path)]) == 0
    lines = path.read_text().splitlines()
    assert lines[0] == ("threads,commit,section,rule,regime,T,impl,fwd_ms,fwd_bwd_ms,"
                        "ratio_fwd,ratio_fwd_bwd")
    forms = [line.split(",")[6] for line in lines[1:] if ",forms," in line]
    assert forms[:3] == ["recurrent", "parallel", "chunk/64"] and forms[3].startswith("auto")


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
    failed = "correctness check failed | correctness check failed |"
    for form, good in (("chunk/64", False), ("auto", False), ("parallel", True)):
        row = next(line for line in out.splitlines()
                   if line.startswith(f"| sum_rule | small | 128 | {form}"))
        assert row.endswith("× |") if good else row.endswith(failed), row


def test_naive_baseline_matches_reference():
    delta = next(c for c in bench_ops.CASES if c.rule == "delta_rule")
    err = bench_ops.gate(delta, "baseline", fn=lambda x, s0: bench_ops.naive_chunk_delta_rule(
        *x, scale=x[0].shape[-1] ** -0.5, chunk_size=16, initial_state=s0))
    assert err <= 1e-10


def test_models_benchmark_quick(capsys, tmp_path):
    path = tmp_path / "models.csv"
    assert bench.main(["models", "--quick", "--models", "deltanet", "transformer",
                       "--csv", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# fastweights bench models\nmachine: ")
    for name in ("deltanet", "transformer"):
        assert f"| {name} | " in out
    assert "aten ops per step" in out and "tokens/s" in out
    assert len(path.read_text().splitlines()) == 1 + 2 * 2 + 2 * 2


def test_models_benchmark_without_op(capsys):
    from fastweights.bench import models as bench_models
    assert bench.main(["models", "--quick", "--models", "deltanet", "transformer",
                       "--lengths", "32", "--contexts", "16", "--without-op"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines()
            if line.startswith(("| deltanet | ", "| transformer | ")) and "M |" in line]
    assert rows[0].endswith("% |") and rows[1].endswith("| – | – |")  # attention has no op
    torch.manual_seed(0)
    model, bare = (bench_models.build("deltanet", 16, 1, 32) for _ in range(2))
    assert bench_models.without_op(bare) and not bench_models.without_op(
        bench_models.build("transformer", 16, 1, 32))
    bare.load_state_dict(model.state_dict())
    x = torch.randint(0, bench_models.VOCAB, (2, 8))
    assert not torch.allclose(model(x)[0], bare(x)[0])  # the op is really gone



def test_compiled_streaming_step_latency():
    from fastweights.bench import models as bench_models
    torch.manual_seed(0)
    model = bench_models.build("deltanet", 16, 1, 32).eval()
    fast = torch.compile(model.step, dynamic=False)
    secs, ops = bench_models.step_latency(model, 8, tokens=2, step=fast)
    assert secs > 0 and ops is None
