"""The declarations: every ``RULES`` entry is a consistent ``Rule``, its public function and
forms take the declared arguments, and docs/rules.md is the generated table."""

import inspect
from pathlib import Path

import pytest

from fastweights import cli, ops
from fastweights.ops import RULES, Rule, spec, table

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
            {"chunk_size"} if form == "chunk" else set()), form
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
