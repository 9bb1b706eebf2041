"""The auto table covers every rule, and ``bench tune`` writes a table that loads."""

import ast

import torch

from fastweights.bench import tune
from fastweights.ops import RULES, auto_table, dispatch, sampling


def _variants():
    return {dispatch.variant(c.rule, list(c.inputs(T=2, initial_state=False).values())): c.rule
            for rule in RULES.values() if len(rule.forms) > 1 for c in sampling.cases(rule)}


def test_table_lists_every_variant_with_a_choice():
    variants = _variants()
    assert set(auto_table.TABLE) == set(variants)
    for variant, entry in auto_table.TABLE.items():
        for regime in auto_table.REGIMES:
            for mode in ("train", "infer"):
                rows = entry[regime][mode]
                assert [r[0] for r in rows] == sorted(r[0] for r in rows)
                assert all(form in variants[variant].forms for _, form, _ in rows)


def test_tune_writes_a_table_for_the_missing_variants(tmp_path):
    shapes = {"small": dict(B=1, H=1, K=4, V=4, lengths=(16, 32)),
              "large": dict(B=1, H=1, K=40, V=4, lengths=(16,))}
    torch.manual_seed(0)
    table = tune.tune(["oja_rule", "sum_rule"], shapes, reps=1, log=lambda s: None,
                      skip=frozenset({"sum_rule"}))
    assert set(table) == {"oja_rule"}
    path = tmp_path / "table.py"
    tune.write(table, path, 1, "fastweights bench tune --missing", kept=True)
    text = path.read_text()
    assert "kept from the table it replaced" in text
    tree = ast.parse(text)  # loads as Python, read without running it
    assigned = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets}
    assert ast.literal_eval(assigned["TABLE"]) == table
    assert [r[0] for r in table["oja_rule"]["small"]["train"]] == [16, 32]
