"""Every rule of ``fastweights.ops.RULES``, every configuration (``sampling.cases``) and
every form, against the recurrent reference and the contract: outputs, final state and all
gradients (incl. ``initial_state``); T = 0 and T = 1; chunk sizes that do not divide T;
causality; streaming in uneven pieces; packing; neutral padding; extreme gates; double
backward; domain checks. What is particular to one rule lives in ``test_<rule>.py``."""

import math

import pytest
import torch
from op_cases import (
    CASES,
    IDS,
    assert_matches_reference,
    call,
    cat_states,
    each,
    errors,
    flat,
    forms_of,
    leaves_of,
    make_inputs,
    outputs_and_grads,
    reference,
    rel,
    weighted_loss,
)

from fastweights.ops import spec

LENGTHS = [0, 1, 63, 100, 257]
DTYPES = [torch.float64, torch.float32]
CHUNK = [(c, f) for c in IDS for f in forms_of(c) if f == "chunk"]
PARALLEL = [(c, f) for c in IDS for f in forms_of(c) if f == "parallel"]
GATED = [c for c in IDS if "g" in [a.name for a in CASES[c].rule.args]
         and CASES[c].rule.arg("g").domain == spec.LOG_GATE]  # a log-decay g ≤ 0


def _forms(case_id):
    return ["recurrent", *forms_of(case_id)]


def _with(inputs, **kw):
    return {n: t for n, t in inputs.items() if n != "initial_state"} | kw


def _slice(inputs, a, b):
    return {n: (t if n == "initial_state" else t[:, a:b]) for n, t in inputs.items()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("chunk_size", [16, 32, 64])
@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("case_id, form", CHUNK, ids=[c for c, _ in CHUNK])
def test_chunk_matches_recurrent(case_id, form, T, chunk_size, dtype):
    assert_matches_reference(case_id, T, dtype, form, chunk_size)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("case_id, form", PARALLEL, ids=[c for c, _ in PARALLEL])
def test_parallel_matches_recurrent(case_id, form, T, dtype):
    assert_matches_reference(case_id, T, dtype, form)


@pytest.mark.parametrize("case_id", IDS)
def test_empty_sequence_returns_initial_state(case_id):
    x = make_inputs(case_id, T=0)
    for form in _forms(case_id):
        o, S = call(case_id, x, form=form, output_final_state=True)
        assert o.shape == (*x["q"].shape[:3], x["v"].shape[-1]) and o.shape[1] == 0, form
        assert torch.equal(flat(S), flat(x["initial_state"])), form


@pytest.mark.parametrize("case_id", IDS)
def test_causal(case_id):
    x = make_inputs(case_id, T=21)
    t0 = 9
    other = make_inputs(case_id, T=21, seed=1)  # other inputs from step t0 on
    y = {n: (t if n == "initial_state" else torch.cat([t[:, :t0], other[n][:, t0:]], 1))
         for n, t in x.items()}
    for form in _forms(case_id):
        o, _ = call(case_id, x, form=form, chunk_size=8)
        o2, _ = call(case_id, y, form=form, chunk_size=8)
        assert (o[:, :t0] - o2[:, :t0]).abs().max() <= 1e-12, form
        assert (o[:, t0] - o2[:, t0]).abs().max() > 1e-6, form


@pytest.mark.parametrize("case_id", IDS)
def test_streaming_uneven_pieces_equal_whole(case_id):
    x = make_inputs(case_id, T=37)
    cuts = [0, 13, 13, 14, 30, 37]  # pieces of 13, 0, 1, 16 and 7 steps
    for form in _forms(case_id):
        kw = {"form": form, "chunk_size": 8, "output_final_state": True}
        o, S = call(case_id, x, **kw)
        outs, state = [], x["initial_state"]
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            o_i, state = call(case_id, _with(_slice(x, a, b), initial_state=state), **kw)
            outs.append(o_i)
        assert rel(torch.cat(outs, 1), o) <= 1e-12, form
        assert rel(state, S) <= 1e-12, form


@pytest.mark.parametrize("lengths", [[5, 1, 12, 9], [1, 2, 30]])  # padded batch; one by one
@pytest.mark.parametrize("case_id", IDS)
def test_cu_seqlens_equals_each_sequence_alone_with_gradients(case_id, lengths):
    x = make_inputs(case_id, B=1, T=sum(lengths))
    n = len(lengths)
    x["initial_state"] = make_inputs(case_id, B=n, T=0, seed=2)["initial_state"]
    cu = [0, *torch.tensor(lengths).cumsum(0).tolist()]
    for form in _forms(case_id):
        kw = {"form": form, "chunk_size": 4, "output_final_state": True}
        packed = leaves_of(x)
        o, S = call(case_id, packed, cu_seqlens=torch.tensor(cu), **kw)
        weighted_loss(o, S).backward()
        alone = leaves_of(x)
        s0 = alone["initial_state"]
        pieces = [call(case_id, _with(_slice(alone, a, b),
                                      initial_state=each(lambda t, i=i: t[i:i + 1], s0)), **kw)
                  for i, (a, b) in enumerate(zip(cu[:-1], cu[1:], strict=True))]
        o_a, S_a = torch.cat([p[0] for p in pieces], 1), cat_states([p[1] for p in pieces])
        weighted_loss(o_a, S_a).backward()
        assert rel(o, o_a) <= 1e-12 and rel(S, S_a) <= 1e-12, form
        for name in x:
            assert rel(each(lambda t: t.grad, packed[name]),
                       each(lambda t: t.grad, alone[name])) <= 1e-12, (form, name)


@pytest.mark.parametrize("case_id", [c for c in IDS if CASES[c].rule.neutral_steps])
def test_neutral_steps_leave_the_state_unchanged(case_id):
    x = make_inputs(case_id, T=10)
    padded = dict(x)
    for a in CASES[case_id].rule.args:
        t = x[a.name]
        padded[a.name] = torch.cat([t, t.new_full((t.shape[0], 7, *t.shape[2:]), a.neutral)], 1)
    for form in _forms(case_id):
        o, S = call(case_id, x, form=form, chunk_size=4, output_final_state=True)
        o_p, S_p = call(case_id, padded, form=form, chunk_size=4, output_final_state=True)
        assert rel(o_p[:, :10], o) <= 1e-12 and rel(S_p, S) <= 1e-12, form


@pytest.mark.parametrize("case_id", IDS)
def test_auto_picks_recurrent_for_one_step_and_the_table_otherwise(case_id, monkeypatch):
    from fastweights.ops import auto_table, dispatch
    rule = CASES[case_id].rule
    forms = rule.forms
    used = []
    for name in set(forms):
        impl = forms[name]
        monkeypatch.setitem(forms, name, lambda *a, _n=name, _f=impl, **k: (
            used.append((_n, k.get("chunk_size"))), _f(*a, **k))[1])
    x = make_inputs(case_id, T=9)
    variant = dispatch.variant(rule, [x[a.name] for a in rule.args])
    # a table that asks for the parallel form (or chunks of 4) at T ≤ 8, chunks of 2 beyond
    short = ("parallel", 0) if "parallel" in forms else ("chunk", 4)
    rows = [(8, *short), (64, "chunk", 2)]
    table = {variant: {r: {m: rows for m in ("train", "infer")} for r in ("small", "large")}}
    monkeypatch.setattr(auto_table, "TABLE", table if "chunk" in forms else {})
    for T in (1, 2, 9):
        call(case_id, make_inputs(case_id, T=T), chunk_size=8)
    if "chunk" not in forms:
        assert [n for n, _ in used] == ["recurrent"] * 3
    else:
        assert used == [("recurrent", None), (short[0], short[1] or None), ("chunk", 2)]


@pytest.mark.parametrize("case_id", GATED)
def test_strong_gates_stay_finite_and_exact(case_id):
    # decays down to e^-3 per step: over 257 steps the product e^(Σg) underflows float32
    # many times over, so a form that used e^(±Σg) over the sequence would produce inf/NaN
    x = make_inputs(case_id, T=257, dtype=torch.float32)
    x["g"] = -3.0 * torch.rand(x["g"].shape, generator=torch.Generator().manual_seed(3))
    ref = outputs_and_grads(case_id, x, form="recurrent")
    for form in forms_of(case_id):
        got = outputs_and_grads(case_id, x, form=form, chunk_size=64)
        assert all(torch.isfinite(flat(g)).all() for g in got[2].values()), form
        bad = {n: e for n, e in errors(got, ref).items() if not e <= 1e-5}
        assert not bad, (form, bad)


@pytest.mark.parametrize("factored", [True, False])
@pytest.mark.parametrize("case_id", GATED)
def test_both_decay_paths_match_recurrent(case_id, factored, monkeypatch):
    # gentle gates take the factored decays e^{b_t}·e^{−b_s}, strong ones the pairwise sums:
    # each path on its own against the reference, fp64 and fp32
    from fastweights.ops import chunking
    seen = []
    real = chunking.factored_decays_ok
    monkeypatch.setattr(chunking, "factored_decays_ok",
                        lambda b: seen.append(real(b)) or (factored and real(b)))
    for dtype in DTYPES:
        assert_matches_reference(case_id, 100, dtype, "chunk", 32)
    assert not seen or any(seen)  # the sampled gates do allow the factored path


@pytest.mark.parametrize("chunk_size", [16, 64])
@pytest.mark.parametrize("case_id", GATED)
def test_extreme_gate_at_chunk_start_fp32(case_id, chunk_size):
    # the contract asks 1e-4; pairwise and end-anchored decay sums give fp32 precision (1e-5)
    # g = −1e4 at each chunk start: a difference of cumulative sums would carry the fp32
    # rounding error of 1e4 (≈ 1e-3) into every decay of the chunk
    T = 100
    x = make_inputs(case_id, T=T)
    x["g"] = x["g"].clone()
    x["g"][:, ::chunk_size] = -1e4
    ref = outputs_and_grads(case_id, x, form="recurrent")  # fp64
    x32 = {n: each(torch.Tensor.float, t) for n, t in x.items()}
    for form in forms_of(case_id):
        got = outputs_and_grads(case_id, x32, form=form, chunk_size=chunk_size)
        bad = {n: e for n, e in errors(got, ref).items() if not e <= 1e-5}
        assert not bad, (form, bad)


@pytest.mark.parametrize("case_id", IDS)
def test_second_derivative_works_or_raises_clearly(case_id):
    x = make_inputs(case_id, B=1, T=9, H=1, K=3, V=2)

    def hessian_vector(form):
        leaves = leaves_of(x)
        o, S = call(case_id, leaves, form=form, chunk_size=4, output_final_state=True)
        tensors = [t for v in leaves.values() for t in (v if isinstance(v, tuple) else (v,))]
        grads = torch.autograd.grad(weighted_loss(o, S), tensors, create_graph=True)
        total = sum((g * g).sum() for g in grads)
        return torch.autograd.grad(total, tensors)

    want = hessian_vector("recurrent")
    for form in forms_of(case_id):
        try:
            got = hessian_vector(form)
        except RuntimeError as e:
            assert "not differentiable twice" in str(e) and "form='recurrent'" in str(e), form
            continue
        for g, w in zip(got, want, strict=True):
            assert rel(g, w) <= 1e-10, form


@pytest.mark.parametrize("case_id", IDS)
def test_reference_gradcheck(case_id):
    x = make_inputs(case_id, B=1, T=3, H=1, K=2, V=2)
    names, s0 = [n for n in x if n != "initial_state"], x["initial_state"]
    parts = list(s0) if isinstance(s0, tuple) else [s0]

    def f(*args):
        state = args[len(names):]
        inputs = dict(zip(names, args[:len(names)], strict=True))
        inputs["initial_state"] = tuple(state) if isinstance(s0, tuple) else state[0]
        o, S = call(case_id, inputs, form="recurrent", output_final_state=True)
        return (o, *(S if isinstance(S, tuple) else (S,)))
    leaves = [t.clone().requires_grad_() for t in [*(x[n] for n in names), *parts]]
    assert torch.autograd.gradcheck(f, leaves)


def _bad(case_id, **changes):
    x = make_inputs(case_id, B=2, T=5) | changes
    return lambda: call(case_id, x)


@pytest.mark.parametrize("case_id", IDS)
def test_bad_inputs_name_the_argument(case_id):
    x = make_inputs(case_id, B=2, T=5)
    cases = [
        ({"q": x["q"][0]}, "q must have shape"),
        ({"q": x["q"][:, :4]}, r"\bq\b|\bk\b|\bv\b"),
        ({"initial_state": each(lambda t: t[..., :-1], x["initial_state"])},
         "initial_state.* must have shape"),
        ({"initial_state": each(lambda t: t * float("nan"), x["initial_state"])},
         "initial_state.* contains NaN"),
    ]
    for changes, match in cases:
        with pytest.raises(ValueError, match=match):
            _bad(case_id, **changes)()
    for chunk_size in (-4, float("nan"), 0, 2.0):
        with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
            call(case_id, x, chunk_size=chunk_size)
    for scale in (float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="scale must be"):
            call(case_id, x, scale=scale)
    with pytest.raises(ValueError, match="backend must be one of"):
        call(case_id, x, backend="cuda")
    packed = {n: (t if n == "initial_state" else t[:1]) for n, t in x.items()}
    with pytest.raises(ValueError, match="cu_seqlens must be strictly increasing"):
        call(case_id, _with(packed), cu_seqlens=torch.tensor([0, 3, 3, 5]))
    first = CASES[case_id].rule.args[0]
    for a in CASES[case_id].rule.args:
        # a wrong T in the first argument (q) is reported on the next one, which disagrees
        name = r"\w+" if a is first else a.name
        with pytest.raises(ValueError, match=rf"^{name} must have shape"):
            _bad(case_id, **{a.name: x[a.name][:, :4]})()
        with pytest.raises(ValueError, match=f"{a.name} contains NaN"):
            _bad(case_id, **{a.name: x[a.name].clone().fill_(float("nan"))})()


@pytest.mark.parametrize("case_id", IDS)
def test_out_of_domain_values_name_argument_domain_and_extremes(case_id):
    x = make_inputs(case_id, B=2, T=5)
    for a in CASES[case_id].rule.args:
        for bound, sign in ((a.domain.hi, 1), (a.domain.lo, -1)):
            if math.isinf(bound):
                continue
            bad = x[a.name].clone()
            bad[0, 0] = bound + sign * 7.5
            want = f"{bound + sign * 7.5:g}".replace(".", r"\.")
            match = (rf"{a.name} must satisfy {a.name} .*, got min "
                     + (rf"-?\d.*, max {want}$" if sign > 0 else rf"{want}, max"))
            with pytest.raises(ValueError, match=match):
                _bad(case_id, **{a.name: bad})()


@pytest.mark.parametrize("case_id", ["delta_rule", "gated_delta_rule-g3d", "gated_sum_rule-g3d"])
def test_chunk_backward_keeps_one_state_per_chunk(case_id):
    B, T, H, K, V, C = 1, 512, 1, 64, 64, 16
    x = {n: t.float().requires_grad_() for n, t in
         make_inputs(case_id, B=B, T=T, H=H, K=K, V=V, initial_state=False).items()}
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        o, _ = call(case_id, x, form="chunk", chunk_size=C)
    o.sum().backward()
    floats = sum(saved.values()) / 4
    one_state_per_step = T * K * V
    # inputs are T·(2K + V + 2) floats, chunk states (T/C)·K·V, chunk matrices T·C
    assert floats <= 8 * (T * (K + V + C) + T // C * K * V)
    assert floats < one_state_per_step / 2


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@cuda
@pytest.mark.parametrize("case_id", IDS)
def test_every_form_runs_on_gpu_like_on_cpu(case_id):
    x = make_inputs(case_id, T=70)
    for form in _forms(case_id):
        o, S = call(case_id, x, form=form, chunk_size=16, output_final_state=True,
                    backend="torch")
        o_gpu, S_gpu = call(case_id, {n: t.cuda() for n, t in x.items()}, form=form,
                            chunk_size=16, output_final_state=True, backend="torch")
        assert o_gpu.is_cuda and rel(o_gpu.cpu(), o) <= 1e-10, form
        assert rel(S_gpu.cpu(), S) <= 1e-10, form


@cuda
@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-4), (torch.bfloat16, 3e-2)])
@pytest.mark.parametrize("case_id", IDS)
def test_gpu_torch_backend_matches_reference(case_id, dtype, tol):
    x = {n: t.cuda().to(dtype) for n, t in make_inputs(case_id, T=100).items()}
    o_ref, S_ref, _ = reference(case_id, 100, torch.float64)
    for form in forms_of(case_id):
        o, S = call(case_id, x, form=form, output_final_state=True, backend="torch")
        assert rel(o.cpu(), o_ref) <= tol and rel(S.cpu(), S_ref) <= tol, form
