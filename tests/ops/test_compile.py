"""torch.compile is a first-class path: the rules' chunk and auto forms and a fast-weight
model trace into one graph, with no break for value checks (which never read a value on the
host while tracing)."""

import pytest
import torch
from op_cases import CASES, IDS, each, make_inputs

dynamo = pytest.importorskip("torch._dynamo")


@pytest.mark.parametrize("form", ["chunk", "auto"])
@pytest.mark.parametrize("case_id", IDS)
def test_rule_traces_without_graph_break(case_id, form):
    if form not in CASES[case_id].rule.forms and form != "auto":
        pytest.skip(f"{case_id} has no {form} form")
    x = {n: each(lambda t: t.float(), t) for n, t in make_inputs(case_id, T=8).items()}
    rule = CASES[case_id].rule
    args = [x[a.name] for a in rule.args]

    def run(*tensors):
        return rule.fn(*tensors, initial_state=x["initial_state"], output_final_state=True,
                       form=form, chunk_size=4, **CASES[case_id].options)
    dynamo.reset()
    explained = dynamo.explain(run)(*args)
    assert explained.graph_break_count == 0, explained.break_reasons


def test_fast_weight_model_traces_without_graph_break():
    from fastweights import models
    model = models.build("deltanet", d_model=16, n_heads=2, n_layers=1, input_size=11,
                         output_size=3)
    x = torch.randint(0, 11, (2, 8))
    dynamo.reset()
    explained = dynamo.explain(lambda: model(x)[0].sum())()
    assert explained.graph_break_count == 0, explained.break_reasons


def test_streaming_step_traces_without_graph_break():
    """``torch.compile(model.step)`` is the few-fused-ops streaming step (bench models)."""
    from fastweights import models
    model = models.build("deltanet", d_model=16, n_heads=2, n_layers=1, input_size=11,
                         output_size=3).eval()
    with torch.no_grad():
        _, state = model(torch.randint(0, 11, (2, 5)))
        dynamo.reset()
        explained = dynamo.explain(model.step)(torch.randint(0, 11, (2,)), state)
    assert explained.graph_break_count == 0, explained.break_reasons
