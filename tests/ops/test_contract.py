"""Inputs are validated per the op contract: bad input raises ValueError naming the argument."""

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


# ---- every rule × form: streaming, packing, overwrite, gates, bad inputs -------------------

ALL = list(op_cases.VARIANTS)


def _with(inputs, **kw):
    return {n: t for n, t in inputs.items() if n != "initial_state"} | kw


def _slice(inputs, a, b):
    return {n: (t if n == "initial_state" else t[:, a:b]) for n, t in inputs.items()}


@pytest.mark.parametrize("variant", ALL)
def test_streaming_split_equals_whole(variant):
    x = op_cases.make_inputs(variant, T=37)
    for form in ["recurrent", *op_cases.forms_of(variant)]:
        kw = {"form": form, "chunk_size": 8, "output_final_state": True}
        o, S = op_cases.call(variant, x, **kw)
        o1, S1 = op_cases.call(variant, _slice(x, 0, 13), **kw)
        o2, S2 = op_cases.call(variant, _with(_slice(x, 13, 37), initial_state=S1), **kw)
        assert op_cases.rel(torch.cat([o1, o2], 1), o) <= 1e-12, form
        assert op_cases.rel(S2, S) <= 1e-12, form


@pytest.mark.parametrize("lengths", [[5, 1, 12, 9], [1, 2, 30]])  # padded batch; one by one
@pytest.mark.parametrize("variant", ALL)
def test_cu_seqlens_equals_each_sequence_alone(variant, lengths):
    x = op_cases.make_inputs(variant, B=1, T=sum(lengths))
    n = len(lengths)
    s0 = torch.randn(n, *x["initial_state"].shape[1:], dtype=torch.float64)
    cu = torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()])
    for form in ["recurrent", *op_cases.forms_of(variant)]:
        kw = {"form": form, "chunk_size": 4, "output_final_state": True}
        o, S = op_cases.call(variant, _with(x, initial_state=s0), cu_seqlens=cu, **kw)
        for i in range(n):
            a, b = cu[i].item(), cu[i + 1].item()
            o_i, S_i = op_cases.call(variant, _with(_slice(x, a, b), initial_state=s0[i:i + 1]),
                                     **kw)
            assert op_cases.rel(o[:, a:b], o_i) <= 1e-12, (form, i)
            assert op_cases.rel(S[i:i + 1], S_i) <= 1e-12, (form, i)


def _overwrite_inputs(K=6, V=3):
    """Orthonormal keys, several written twice; query t asks for the key written at t."""
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(K, K, generator=gen, dtype=torch.float64))[0]
    order = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    T = len(order)
    k = basis[order].view(1, T, 1, K)
    v = torch.randn(1, T, 1, V, generator=gen, dtype=torch.float64)
    return k.clone(), k, v, order, basis


@pytest.mark.parametrize("variant", ["delta_rule", "gated_delta_rule", "delta_product_rule"])
def test_delta_rule_overwrites_with_beta_one(variant):
    q, k, v, order, basis = _overwrite_inputs()
    T = len(order)
    ones = torch.ones(1, T, 1, dtype=torch.float64)
    x = {"q": q, "k": k, "v": v, "beta": ones}
    if variant == "gated_delta_rule":
        x["g"] = torch.zeros(1, T, 1, dtype=torch.float64)
    if variant == "delta_product_rule":  # one Householder step per token
        x |= {"k": k[:, :, None], "v": v[:, :, None], "beta": ones[:, :, None]}
    for form in ["recurrent", *op_cases.forms_of(variant)]:
        o, S = op_cases.call(variant, x, form=form, chunk_size=4, scale=1.0,
                             output_final_state=True)
        # reading the key just written returns exactly its new value, not a blend
        torch.testing.assert_close(o, v, rtol=0, atol=1e-12)
        for j in order.unique():
            last = (order == j).nonzero().max()
            torch.testing.assert_close(S[0, 0].T @ basis[j], v[0, last, 0], rtol=0, atol=1e-12)


def test_sum_rule_does_not_overwrite():
    q, k, v, order, _ = _overwrite_inputs()
    o, _ = sum_rule(q, k, v, scale=1.0, form="recurrent")
    # the second write under key 0 (t = 2) reads back v_0 + v_2, not v_2
    torch.testing.assert_close(o[0, 2, 0], v[0, 0, 0] + v[0, 2, 0], rtol=0, atol=1e-12)
    assert not torch.allclose(o, v, atol=1e-3)


@pytest.mark.parametrize("variant", ["gated_sum_rule_scalar", "gated_sum_rule_per_key",
                                     "gated_delta_rule"])
def test_strong_gates_stay_finite_and_exact(variant):
    # decays down to e^-3 per step: over 257 steps the product e^(Σg) underflows float32
    # many times over, so a form that used e^(±Σg) over the sequence would produce inf/NaN
    x = op_cases.make_inputs(variant, T=257, dtype=torch.float32)
    x["g"] = -3.0 * torch.rand(x["g"].shape, generator=torch.Generator().manual_seed(3))
    o_ref, S_ref, g_ref = op_cases.outputs_and_grads(variant, x, form="recurrent")
    for form in op_cases.forms_of(variant):
        o, S, grads = op_cases.outputs_and_grads(variant, x, form=form, chunk_size=64)
        assert op_cases.rel(o, o_ref) <= 1e-5 and op_cases.rel(S, S_ref) <= 1e-5, form
        for n, g_n in grads.items():
            assert torch.isfinite(g_n).all() and op_cases.rel(g_n, g_ref[n]) <= 1e-5, (form, n)


@pytest.mark.parametrize("variant", ALL)
def test_auto_picks_recurrent_for_one_step_and_chunk_otherwise(variant, monkeypatch):
    rule = op_cases.VARIANTS[variant][0]
    forms = op_cases.RULES[rule].forms
    used = []
    for name in ("recurrent", "chunk"):
        impl = forms[name]
        monkeypatch.setitem(forms, name, lambda *a, _n=name, _f=impl, **k: (used.append(_n),
                                                                             _f(*a, **k))[1])
    op_cases.call(variant, op_cases.make_inputs(variant, T=1), chunk_size=8)
    op_cases.call(variant, op_cases.make_inputs(variant, T=2), chunk_size=8)
    op_cases.call(variant, op_cases.make_inputs(variant, T=9), chunk_size=8)
    assert used == ["recurrent", "chunk", "chunk"]


def _bad(variant, **changes):
    x = op_cases.make_inputs(variant, B=2, T=5) | changes
    return lambda: op_cases.call(variant, x)


@pytest.mark.parametrize("variant", ALL)
def test_bad_inputs_name_the_argument(variant):
    x = op_cases.make_inputs(variant, B=2, T=5)
    cases = [
        ({"q": x["q"][0]}, "q must have shape"),
        ({"q": x["q"][:, :4]}, r"\bq\b|\bk\b|\bv\b"),
        ({"initial_state": x["initial_state"][:, :, :-1]}, "initial_state must have shape"),
    ]
    for changes, match in cases:
        with pytest.raises(ValueError, match=match):
            _bad(variant, **changes)()
    for chunk_size, match in [(-4, "chunk_size"), (float("nan"), "chunk_size"), (0, "chunk_size")]:
        with pytest.raises(ValueError, match=match):
            op_cases.call(variant, x, chunk_size=chunk_size)
    packed = {n: (t if n == "initial_state" else t[:1]) for n, t in x.items()}
    with pytest.raises(ValueError, match="cu_seqlens must be strictly increasing"):
        op_cases.call(variant, _with(packed), cu_seqlens=torch.tensor([0, 3, 3, 5]))
    if "g" in x:
        with pytest.raises(ValueError, match=r"g must satisfy g ≤ 0 .*, got min .*, max"):
            _bad(variant, g=x["g"].abs() + 0.1)()
        with pytest.raises(ValueError, match="g must have shape"):
            _bad(variant, g=x["g"][:, :, :1])()
        with pytest.raises(ValueError, match="g contains NaN"):
            _bad(variant, g=x["g"].clone().fill_(float("nan")))()
    if "beta" in x:
        with pytest.raises(ValueError, match="beta must have shape"):
            _bad(variant, beta=x["beta"][:, :3])()


def test_gated_delta_rule_rejects_per_key_gate():
    x = op_cases.make_inputs("gated_delta_rule", B=2, T=5)
    with pytest.raises(ValueError, match=r"g must have shape \(2, 5, 2\) .* got \(2, 5, 2, 4\)"):
        _bad("gated_delta_rule", g=x["g"][..., None].expand(*x["g"].shape, 4))()


@pytest.mark.parametrize("variant", ["gated_sum_rule_scalar", "gated_sum_rule_per_key",
                                     "gated_delta_rule", "delta_product_rule"])
def test_new_reference_gradcheck(variant):
    x = op_cases.make_inputs(variant, B=1, T=3, H=1, K=2, V=2)
    names = list(x)
    leaves = [x[n].clone().requires_grad_() for n in names]

    def f(*args):
        return op_cases.call(variant, dict(zip(names, args, strict=True)), form="recurrent",
                             output_final_state=True)
    assert torch.autograd.gradcheck(f, leaves)


@pytest.mark.parametrize("variant", ["delta_rule", "gated_delta_rule", "gated_sum_rule_scalar"])
def test_chunk_backward_keeps_one_state_per_chunk(variant):
    B, T, H, K, V, C = 1, 512, 1, 64, 64, 16
    x = {n: t.float().requires_grad_() for n, t in
         op_cases.make_inputs(variant, B=B, T=T, H=H, K=K, V=V).items() if n != "initial_state"}
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        o, _ = op_cases.call(variant, x, form="chunk", chunk_size=C)
    o.sum().backward()
    floats = sum(saved.values()) / 4
    one_state_per_step = T * K * V
    # inputs are T·(2K + V + 2) floats, chunk states (T/C)·K·V, chunk matrices T·C
    assert floats <= 8 * (T * (K + V + C) + T // C * K * V)
    assert floats < one_state_per_step / 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ALL)
def test_every_form_runs_on_gpu_like_on_cpu(variant):
    x = op_cases.make_inputs(variant, T=70)
    for form in ["recurrent", *op_cases.forms_of(variant)]:
        o, S = op_cases.call(variant, x, form=form, chunk_size=16, output_final_state=True)
        o_gpu, S_gpu = op_cases.call(variant, {n: t.cuda() for n, t in x.items()}, form=form,
                                     chunk_size=16, output_final_state=True)
        assert o_gpu.is_cuda and op_cases.rel(o_gpu.cpu(), o) <= 1e-10, form
        assert op_cases.rel(S_gpu.cpu(), S) <= 1e-10, form
