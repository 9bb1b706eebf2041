"""The declarations: every ``RULES`` entry is a consistent ``Rule``, its public function and
forms take the declared arguments, and docs/rules.md is the generated table."""

import inspect
from pathlib import Path

import pytest
import torch

from fastweights import cli, ops
from fastweights.ops import RULES, Rule, dispatch, sampling, spec, table

COMMON = ["scale", "initial_state", "output_final_state", "form", "chunk_size", "cu_seqlens",
          "backend"]


@pytest.mark.parametrize("name", list(RULES))
def test_rule_declaration_matches_its_functions(name):
    rule = RULES[name]
    assert isinstance(rule, Rule) and rule.name == name and getattr(ops, name) is rule.fn
    params = inspect.signature(rule.fn).parameters.values()
    positional = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD]
    keyword = [p.name for p in params if p.kind == p.KEYWORD_ONLY]
    assert positional == [a.name for a in rule.args]
    assert sorted(keyword) == sorted(COMMON + [o.name for o in rule.options])
    for form, fn in rule.forms.items():
        fparams = inspect.signature(fn).parameters.values()
        assert [p.name for p in fparams if p.kind == p.POSITIONAL_OR_KEYWORD] == positional
        kw = {p.name for p in fparams if p.kind == p.KEYWORD_ONLY}
        assert kw == {"scale", "initial_state", "output_final_state"} | (
            {"chunk_size"} if form == "chunk" else set()) | {
            o.name for o in rule.options if o.form}, form
    for a in rule.args:
        assert a.domain.lo <= a.neutral <= a.domain.hi, a.name
        assert a.kind in ("feature", "gate") and a.shapes
    assert set(rule.forms) <= set(spec.FORMS) and set(rule.backends) <= set(spec.BACKENDS)


def test_a_rule_needs_a_reference():
    with pytest.raises(ValueError, match="must declare a 'recurrent' reference"):
        Rule("x", "p", "r", args=(spec.QUERY,), state=(spec.FAST_WEIGHTS,), forms={},
             fn=print)


def test_docs_rules_md_is_the_generated_table():
    path = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    assert path.read_text() == table.markdown(RULES), (
        "docs/rules.md is stale: run `fastweights rules --markdown > docs/rules.md`")


def test_rules_command_lists_every_rule(capsys):
    assert cli.main(["rules"]) == 0
    out = capsys.readouterr().out
    for rule in RULES.values():
        assert f"{rule.name} — {rule.paper}" in out and rule.recurrence in out
        for a in rule.args:
            assert a.domain.describe(a.name) in out
    assert "beta ∈ [0, 2]" in out and "g ≤ 0" in out and "neutral 0" in out
    assert "forms: recurrent (reference), parallel, chunk" in out
    assert "backends: torch; fla (chunk, recurrent): " in out


def _two_state_recurrent(q, k, v, *, scale, initial_state=None, output_final_state=False):
    """A toy rule with a tuple state (S [N, H, K, V], z [N, H, K]): o_t = S_tᵀq_t − z_tᵀq_t."""
    B, T, H, K = q.shape
    S, z = initial_state if initial_state is not None else (
        q.new_zeros(B, H, K, v.shape[-1]), q.new_zeros(B, H, K))
    outs = []
    for q_t, k_t, v_t in zip(q.unbind(1), k.unbind(1), v.unbind(1), strict=True):
        S, z = S + k_t[..., None] * v_t[..., None, :], z + k_t
        outs.append(scale * (q_t[..., None] * S).sum(-2) - (q_t * z).sum(-1, keepdim=True))
    o = torch.stack(outs, 1) if outs else v.new_zeros(B, 0, H, v.shape[-1])
    return o, ((S, z) if output_final_state else None)


def _two_state(q, k, v, *, scale=None, initial_state=None, output_final_state=False,
               form="auto", chunk_size=64, cu_seqlens=None, backend="auto"):
    return dispatch.call(TWO_STATE, (q, k, v), scale=scale, initial_state=initial_state,
                         output_final_state=output_final_state, form=form,
                         chunk_size=chunk_size, cu_seqlens=cu_seqlens, backend=backend)


TWO_STATE = Rule("two_state", "none", "S_t = S_{t-1} + k_t v_tᵀ, z_t = z_{t-1} + k_t",
                 args=(spec.QUERY, spec.KEY, spec.VALUE),
                 state=(spec.FAST_WEIGHTS, spec.State("z", "N H K", "key trace")),
                 forms={"recurrent": _two_state_recurrent}, fn=_two_state)


def test_a_rule_with_a_tuple_state_validates_streams_and_packs():
    case = sampling.Case(TWO_STATE)
    x = case.inputs(B=1, T=9)
    assert [tuple(s.shape) for s in x["initial_state"]] == [(1, 2, 4, 3), (1, 2, 4)]
    o, (S, z) = case.call(x, output_final_state=True)
    o0, s0 = case.call({n: (t if n == "initial_state" else t[:, :0]) for n, t in x.items()},
                       output_final_state=True)
    assert o0.shape[1] == 0 and all(map(torch.equal, s0, x["initial_state"]))
    with pytest.raises(ValueError, match=r"initial_state z must have shape \[N, H, K\]"):
        case.call(x | {"initial_state": (S, z[..., :2])})
    with pytest.raises(ValueError, match=r"initial_state must be a tuple \(S, z\)"):
        case.call(x | {"initial_state": S})
    # two packed sequences, one state row each, equal each sequence alone
    s2 = tuple(torch.cat([t, 2 * t]) for t in x["initial_state"])
    o_p, (S_p, z_p) = case.call(x | {"initial_state": s2}, cu_seqlens=torch.tensor([0, 4, 9]),
                                output_final_state=True)
    for i, (a, b) in enumerate([(0, 4), (4, 9)]):
        piece = {n: t[:, a:b] for n, t in x.items() if n != "initial_state"}
        o_i, (S_i, z_i) = case.call(piece | {"initial_state": tuple(t[i:i + 1] for t in s2)},
                                    output_final_state=True)
        assert torch.allclose(o_p[:, a:b], o_i) and torch.allclose(S_p[i], S_i[0])
        assert torch.allclose(z_p[i], z_i[0])
