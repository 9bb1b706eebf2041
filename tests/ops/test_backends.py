"""``backend=``: torch everywhere; fla only on CUDA with flash-linear-attention installed.

On CPU nothing imports triton or fla, and ``backend="fla"`` is a ValueError saying why. The
mapping to fla (function, keyword conventions, capability fallbacks) is tested with a stand-in
module that records its calls; the real kernels are compared on a GPU (marked tests)."""

import importlib.util
import subprocess
import sys
import types
import warnings

import op_cases
import pytest
import torch

from fastweights.ops import RULES
from fastweights.ops.backends import fla


@pytest.mark.parametrize("case_id", op_cases.IDS)
def test_auto_and_torch_agree_on_cpu_and_fla_says_why_not(case_id):
    x = op_cases.make_inputs(case_id, T=9)
    o_auto, S_auto = op_cases.call(case_id, x, output_final_state=True)
    o_torch, S_torch = op_cases.call(case_id, x, output_final_state=True, backend="torch")
    assert torch.equal(o_auto, o_torch) and torch.equal(op_cases.flat(S_auto),
                                                         op_cases.flat(S_torch))
    rule = op_cases.CASES[case_id].rule
    match = "CUDA" if "fla" in rule.kernels else "has no fla kernel"
    with pytest.raises(ValueError, match=match):
        op_cases.call(case_id, x, backend="fla")


def test_cpu_never_imports_triton_or_fla():
    code = (
        "import sys, torch, fastweights.ops as ops\n"
        "x = torch.randn(1, 5, 2, 4)\n"
        "ops.delta_rule(x, x, x, torch.rand(1, 5, 2))\n"
        "ops.gated_sum_rule(x, x, x, -torch.rand(1, 5, 2, 4), backend='auto')\n"
        "try:\n"
        "    ops.delta_rule(x, x, x, torch.rand(1, 5, 2), backend='fla')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('triton', 'fla')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["the fla backend runs on CUDA tensors only, got tensors on cpu", "[]"]


@pytest.fixture
def fake_fla(monkeypatch):
    """A stand-in ``fla`` package whose kernels record their arguments and return the
    torch reference's result; the device check is lifted so that CPU tensors reach it."""
    calls = []

    def kernel(rule_name):
        def run(*tensors, **kw):
            calls.append((rule_name, tensors, kw))
            return torch.zeros_like(tensors[2]), None
        return run

    for rule in RULES.values():
        for k in rule.kernels.get("fla", {}).values():
            for leaf in getattr(k, "kernels", {0: k}).values():
                mod = sys.modules.get(leaf.module) or types.ModuleType(leaf.module)
                setattr(mod, leaf.name, kernel(f"{leaf.module}.{leaf.name}"))
                monkeypatch.setitem(sys.modules, leaf.module, mod)
    monkeypatch.setattr(fla, "unavailable", lambda device: None)
    monkeypatch.setattr(fla, "_warned", set())
    return calls


def test_fla_kernels_get_our_conventions(fake_fla):
    x = op_cases.make_inputs("delta_rule", T=9, dtype=torch.float32)
    s0 = x["initial_state"]
    op_cases.call("delta_rule", x, backend="fla", scale=0.3, output_final_state=True)
    name, tensors, kw = fake_fla[-1]
    assert name == "fla.ops.delta_rule.chunk_delta_rule" and len(tensors) == 4
    assert kw == {"scale": 0.3, "initial_state": s0, "output_final_state": True,
                  "use_qk_l2norm_in_kernel": False}
    # one step: the fused recurrent kernel; default scale K^-1/2; cu_seqlens passed through
    y = op_cases.make_inputs("gated_delta_rule-g3d", B=1, T=6, dtype=torch.float32)
    op_cases.call("gated_delta_rule-g3d", y, backend="fla", cu_seqlens=torch.tensor([0, 2, 6]),
                  initial_state=None)
    name, tensors, kw = fake_fla[-1]
    assert name == "fla.ops.gated_delta_rule.chunk_gated_delta_rule"
    assert kw["scale"] == 4 ** -0.5 and kw["cu_seqlens"].tolist() == [0, 2, 6]
    op_cases.call("delta_rule", op_cases.make_inputs("delta_rule", T=1, dtype=torch.float32),
                  backend="fla")
    assert fake_fla[-1][0] == "fla.ops.delta_rule.fused_recurrent_delta_rule"
    # the gate's rank picks simple GLA (scalar) or GLA (per key)
    for case_id, want in (("gated_sum_rule-g3d", "fla.ops.simple_gla.chunk_simple_gla"),
                          ("gated_sum_rule-g4d", "fla.ops.gla.chunk_gla")):
        op_cases.call(case_id, op_cases.make_inputs(case_id, dtype=torch.float32),
                      backend="fla")
        assert fake_fla[-1][0] == want
    op_cases.call("sum_rule", op_cases.make_inputs("sum_rule", dtype=torch.float32),
                  backend="fla")
    assert fake_fla[-1][0] == "fla.ops.linear_attn.chunk_linear_attn"
    assert fake_fla[-1][2]["normalize"] is False


def test_fla_capability_fallback_warns_once_under_auto_and_raises_under_fla(fake_fla):
    x = op_cases.make_inputs("delta_rule", T=9)  # float64: fla has no fp64 kernels
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        o, _ = op_cases.call("delta_rule", x, backend="auto")
        op_cases.call("delta_rule", x, backend="auto")
    assert len(caught) == 1 and "falling back to the torch backend" in str(caught[0].message)
    assert "torch.float64" in str(caught[0].message) and not fake_fla
    assert torch.equal(o, op_cases.call("delta_rule", x, backend="torch")[0])
    with pytest.raises(ValueError, match="backend='fla' cannot run .* torch.float64"):
        op_cases.call("delta_rule", x, backend="fla")
    # packed sequences for a kernel without varlen; a form fla does not have
    y = op_cases.make_inputs("sum_rule", B=1, T=6, dtype=torch.float32)
    with pytest.raises(ValueError, match="takes no cu_seqlens"):
        op_cases.call("sum_rule", y, backend="fla", cu_seqlens=torch.tensor([0, 2, 6]),
                      initial_state=None)
    with pytest.raises(ValueError, match="fla has no 'parallel' kernel"):
        op_cases.call("delta_rule", x | {n: t.float() for n, t in x.items()}, backend="fla",
                      form="parallel")


def test_fla_unavailable_reasons():
    assert "CUDA" in fla.unavailable(torch.device("cpu"))
    if importlib.util.find_spec("fla") is None:
        assert "pip install 'fastweights[fla]'" in fla.unavailable(torch.device("cuda"))


needs_fla = pytest.mark.skipif(not torch.cuda.is_available()
                               or importlib.util.find_spec("fla") is None,
                               reason="needs CUDA and flash-linear-attention")


@needs_fla
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-3), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("case_id", [c for c in op_cases.IDS
                                     if "fla" in op_cases.CASES[c].rule.kernels])
def test_fla_matches_torch_on_gpu(case_id, dtype, tol):
    x = {n: t.cuda().to(dtype) for n, t in
         op_cases.make_inputs(case_id, B=2, T=100, H=2, K=64, V=64).items()}
    if "k" in x and op_cases.CASES[case_id].rule.arg("k").unit_norm:
        x["k"] = torch.nn.functional.normalize(x["k"], dim=-1)
    o_ref, S_ref = op_cases.call(case_id, x, backend="torch", output_final_state=True)
    o, S = op_cases.call(case_id, x, backend="fla", output_final_state=True)
    assert op_cases.rel(o.float(), o_ref.float()) <= tol
    assert op_cases.rel(S.float(), S_ref.float()) <= tol
