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


def each(f, s):
    """``f`` on a state: one tensor, or each tensor of a tuple state (e.g. mLSTM's C, n, m)."""
    return tuple(f(x) for x in s) if isinstance(s, tuple) else f(s)


def flat(s) -> torch.Tensor:
    """A state (tensor or tuple) as one flat float64 vector, for comparisons."""
    parts = s if isinstance(s, tuple) else (s,)
    return torch.cat([p.double().reshape(-1) for p in parts])


def cat_states(states: list, dim: int = 0):
    if isinstance(states[0], tuple):
        return tuple(torch.cat(p, dim) for p in zip(*states, strict=True))
    return torch.cat(states, dim)


def rel(a, b) -> float:
    """‖a − b‖ / ‖b‖ (relative RMS error), ‖a − b‖ when b is 0; states may be tuples."""
    a, b = flat(a), flat(b)
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def tol(dtype: torch.dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-5


def leaves_of(inputs: dict) -> dict:
    return {n: each(lambda t: t.clone().requires_grad_(), t) for n, t in inputs.items()}


def weighted_loss(o: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
    """A fixed random linear function of (o, S_T), so that every gradient is exercised."""
    gen = torch.Generator().manual_seed(1)
    w_o = torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)
    loss = (o * w_o).sum()
    for part in S if isinstance(S, tuple) else (S,):
        loss = loss + (part * torch.randn(part.shape, generator=gen, dtype=torch.float64)
                       .to(part.dtype)).sum()
    return loss


def outputs_and_grads(case_id: str, inputs: dict, **kwargs):
    """o, S_T and the gradients of ``weighted_loss`` w.r.t. every input (incl. the state).
    A tuple state gets a tuple of gradients."""
    leaves = leaves_of(inputs)
    o, S = call(case_id, leaves, output_final_state=True, **kwargs)
    weighted_loss(o, S).backward()
    # an input that no step reads (T = 0) gets no gradient: it is zero
    grads = {n: each(lambda t: torch.zeros_like(t) if t.grad is None else t.grad, t)
             for n, t in leaves.items()}
    return o.detach(), each(torch.Tensor.detach, S), grads


@functools.cache
def reference(case_id: str, T: int, dtype: torch.dtype):
    """The recurrent reference's outputs and gradients, once per (case, T, dtype)."""
    return outputs_and_grads(case_id, make_inputs(case_id, T=T, dtype=dtype), form="recurrent")


def errors(got, want) -> dict[str, float]:
    (o, S, grads), (o_ref, S_ref, g_ref) = got, want
    assert o.shape == o_ref.shape and flat(S).shape == flat(S_ref).shape
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
