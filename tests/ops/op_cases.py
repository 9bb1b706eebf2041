"""Helpers for the op tests: the cases of every rule (``fastweights.ops.sampling``) and the
comparison of a form with the recurrent reference."""

import functools

import torch

from fastweights.ops import RULES, sampling

CASES = {c.id: c for rule in RULES.values() for c in sampling.cases(rule)}
IDS = list(CASES)


def forms_of(case_id: str) -> list[str]:
    return [f for f in CASES[case_id].rule.forms if f != "recurrent"]


def make_inputs(case_id: str, **kw) -> dict:
    return CASES[case_id].inputs(**kw)


def call(case_id: str, inputs: dict, **kwargs):
    return CASES[case_id].call(inputs, **kwargs)


def tmap(f, x):
    """``f`` on a tensor, or on each tensor of a multi-tensor state (a tuple)."""
    return tuple(f(t) for t in x) if isinstance(x, tuple) else f(x)


def flat(values) -> list[torch.Tensor]:
    """The tensors of ``values``, with multi-tensor states unpacked."""
    return [t for v in values for t in (v if isinstance(v, tuple) else (v,))]


def rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ (relative RMS error), ‖a − b‖ when b is 0; for a multi-tensor state,
    the largest over its tensors."""
    if isinstance(b, tuple):
        return max(rel(x, y) for x, y in zip(a, b, strict=True))
    a, b = a.double(), b.double()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def tol(dtype: torch.dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-5


def leaves_of(inputs: dict) -> dict:
    return {n: tmap(lambda t: t.clone().requires_grad_(), t) for n, t in inputs.items()}


def weighted_loss(o: torch.Tensor, S) -> torch.Tensor:
    """A fixed random linear function of (o, S_T), so that every gradient is exercised."""
    gen = torch.Generator().manual_seed(1)
    return sum((x * torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)).sum()
               for x in flat([o, S]))


def grad_of(x):
    """The gradient of a leaf (zero if no step read it), or of each part of a state."""
    return tmap(lambda t: torch.zeros_like(t) if t.grad is None else t.grad, x)


def outputs_and_grads(case_id: str, inputs: dict, **kwargs):
    """o, S_T and the gradients of ``weighted_loss`` w.r.t. every input (incl. the state)."""
    leaves = leaves_of(inputs)
    o, S = call(case_id, leaves, output_final_state=True, **kwargs)
    weighted_loss(o, S).backward()
    # an input that no step reads (T = 0) gets no gradient: it is zero
    grads = {n: grad_of(t) for n, t in leaves.items()}
    return o.detach(), tmap(torch.Tensor.detach, S), grads


@functools.cache
def reference(case_id: str, T: int, dtype: torch.dtype):
    """The recurrent reference's outputs and gradients, once per (case, T, dtype)."""
    return outputs_and_grads(case_id, make_inputs(case_id, T=T, dtype=dtype), form="recurrent")


def errors(got, want) -> dict[str, float]:
    (o, S, grads), (o_ref, S_ref, g_ref) = got, want
    assert o.shape == o_ref.shape
    assert [t.shape for t in flat([S])] == [t.shape for t in flat([S_ref])]
    return {"o": rel(o, o_ref), "S": rel(S, S_ref)} | {
        f"d{n}": rel(grads[n], g_ref[n]) for n in g_ref}


def assert_matches_reference(case_id: str, T: int, dtype: torch.dtype, form: str,
                             chunk_size: int = 64) -> None:
    got = outputs_and_grads(case_id, make_inputs(case_id, T=T, dtype=dtype), form=form,
                            chunk_size=chunk_size)
    assert got[0].dtype == dtype
    errs = errors(got, reference(case_id, T, dtype))
    bad = {n: e for n, e in errs.items() if not e <= tol(dtype)}
    assert not bad, f"{case_id} {form} T={T} C={chunk_size} {dtype}: {bad}"
