"""Inputs are validated per the op contract: bad input raises ValueError naming the argument;
value checks run on CPU, elsewhere only when asked (``fastweights.ops.debug``)."""

import op_cases
import pytest
import torch

from fastweights.ops import delta_rule, sum_rule


def _inputs(B=2, T=5, H=3, K=4, V=6):
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(B, T, H, K, generator=g), torch.randn(B, T, H, K, generator=g)
    v = torch.randn(B, T, H, V, generator=g)
    return q, k, v, torch.rand(B, T, H, generator=g)


def _call(rule, q, k, v, beta, **kw):
    return delta_rule(q, k, v, beta, **kw) if rule == "delta" else sum_rule(q, k, v, **kw)


@pytest.mark.parametrize("rule", ["delta", "sum"])
@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda q, k, v, b, kw: (q[0], k, v, b, kw),
         r"^q must have shape \[B, T, H, K\] \(4 dims\)"),
        (lambda q, k, v, b, kw: (q, k[:, :4], v, b, kw), r"k must have shape \(2, 5, 3, 4\)"),
        (lambda q, k, v, b, kw: (q, k, v[:, :, :2], b, kw), r"v must have shape \(2, 5, 3, ·\)"),
        (lambda q, k, v, b, kw: (q, k, v.double(), b, kw), "v must have q\'s dtype"),
        (lambda q, k, v, b, kw: (q.long(), k, v, b, kw), "q must be a floating-point"),
        (lambda q, k, v, b, kw: (q, k.index_fill(1, torch.tensor([2]), float("nan")), v, b, kw),
         "k contains NaN"),
        (lambda q, k, v, b, kw: (q, k, v, b, kw | {"initial_state": torch.zeros(2, 3, 5, 6)}),
         r"initial_state must have shape \[N, H, K, V\]"),
        (lambda q, k, v, b, kw: (q, k, v, b, kw | {"chunk_size": -1}), "chunk_size"),
        (lambda q, k, v, b, kw: (q, k, v, b, kw | {"chunk_size": float("inf")}), "chunk_size"),
        (lambda q, k, v, b, kw: (q, k, v, b, kw | {"form": "fast"}), "form must be one of"),
        (lambda q, k, v, b, kw: (q, k, v, b, kw | {"cu_seqlens": torch.tensor([0, 5])}),
         "cu_seqlens requires batch size B == 1"),
        (lambda q, k, v, b, kw: (q[:1], k[:1], v[:1], b[:1], kw | {"cu_seqlens":
                                                                  torch.tensor([0, 3, 2, 5])}),
         "cu_seqlens must be strictly increasing"),
        (lambda q, k, v, b, kw: (q[:1], k[:1], v[:1], b[:1], kw | {"cu_seqlens":
                                                                  torch.tensor([0, 3])}),
         "cu_seqlens must start at 0 and end at T"),
    ],
)
def test_bad_input_raises(rule, mutate, match):
    q, k, v, b, kw = mutate(*_inputs(), {})
    with pytest.raises(ValueError, match=match):
        _call(rule, q, k, v, b, **kw)


def test_beta_shape_checked():
    q, k, v, b = _inputs()
    with pytest.raises(ValueError, match=r"beta must have shape \(2, 5, 3\)"):
        delta_rule(q, k, v, b[:, :, :1])


@pytest.mark.parametrize("rule", ["delta", "sum"])
def test_streaming_and_packing(rule):
    q, k, v, b = (x.double() for x in _inputs(T=9))
    o, S = _call(rule, q, k, v, b, output_final_state=True)
    o1, S1 = _call(rule, q[:, :4], k[:, :4], v[:, :4], b[:, :4], output_final_state=True)
    o2, S2 = _call(rule, q[:, 4:], k[:, 4:], v[:, 4:], b[:, 4:], initial_state=S1,
                   output_final_state=True)
    torch.testing.assert_close(torch.cat([o1, o2], 1), o, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(S2, S, rtol=1e-12, atol=1e-12)
    # two batch rows packed into one sequence equal the batch
    packed = [x.reshape(1, -1, *x.shape[2:]) for x in (q, k, v, b)]
    op, Sp = _call(rule, *packed, cu_seqlens=torch.tensor([0, 9, 18]), output_final_state=True)
    torch.testing.assert_close(op.view_as(o), o, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(Sp, S, rtol=1e-12, atol=1e-12)


def test_reference_gradcheck():
    q, k, v, b = (x.double().requires_grad_() for x in _inputs(B=1, T=3, H=1, K=2, V=2))
    s0 = torch.randn(1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *a: delta_rule(*a[:4], initial_state=a[4], output_final_state=True,
                              form="recurrent"), (q, k, v, b, s0))
    assert torch.autograd.gradcheck(
        lambda *a: sum_rule(*a[:3], initial_state=a[3], output_final_state=True,
                            normalize=False, form="recurrent"), (q, k, v, s0))


def test_gated_delta_rule_rejects_a_per_key_gate_of_the_wrong_size():
    x = op_cases.make_inputs("gated_delta_rule-g3d", B=2, T=5)
    g = x["g"][..., None].expand(*x["g"].shape, 3)  # K = 4
    with pytest.raises(ValueError, match=r"g must have shape \(2, 5, 2, 4\) .* got \(2, 5, 2, 3\)"):
        op_cases.call("gated_delta_rule-g3d", x | {"g": g})


def test_value_checks_run_on_cpu_and_elsewhere_only_when_asked(monkeypatch):
    from fastweights import ops
    from fastweights.ops import checks

    meta = torch.device("meta")
    monkeypatch.delenv(checks.ENV, raising=False)
    assert checks.values_checked(torch.device("cpu")) and not checks.values_checked(meta)
    previous = ops.debug(True)
    try:
        assert checks.values_checked(meta)
    finally:
        ops.debug(previous)
    monkeypatch.setenv(checks.ENV, "1")
    assert checks.values_checked(meta)


def test_no_value_is_read_off_the_cpu_by_default(monkeypatch):
    # meta tensors have no values: any host read (.item(), bool(), .tolist()) would raise,
    # so a clean call here is a call that would not sync with a CUDA device
    monkeypatch.delenv("FASTWEIGHTS_OPS_DEBUG", raising=False)
    x = {n: t.to("meta") for n, t in op_cases.make_inputs("gated_delta_rule-g3d", T=5).items()}
    o, S = op_cases.call("gated_delta_rule-g3d", x, form="recurrent", output_final_state=True)
    assert o.device.type == "meta" and S.shape == x["initial_state"].shape
    from fastweights import ops
    previous = ops.debug(True)
    try:
        with pytest.raises(RuntimeError, match="(?i)meta"):  # values read on the host
            op_cases.call("gated_delta_rule-g3d", x, form="recurrent")
    finally:
        ops.debug(previous)


def test_beta_out_of_range_is_rejected_not_nan():
    q, k, v, b = _inputs()
    with pytest.raises(ValueError, match=r"beta must satisfy beta ∈ \[0, 2\] .* max 1000"):
        delta_rule(q, k, v, b * 0 + 1000)
    with pytest.raises(ValueError, match="scale must be finite, got nan"):
        delta_rule(q, k, v, b, scale=float("nan"))
