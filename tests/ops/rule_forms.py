"""Helpers for the tests of the newer rules: run a form, get (o, final state, every gradient),
and compare two forms. A state may be one tensor or a tuple of tensors (mLSTM: C, n, m)."""

import torch


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ (relative RMS error), ‖a − b‖ when b = 0."""
    a, b = a.double(), b.double()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def outputs_and_grads(fn, args, state, **kw):
    """o, final state (tuple) and the gradients of a fixed random loss w.r.t. args and state."""
    args = [a.detach().clone().requires_grad_() for a in args]
    s0 = None if state is None else tuple(s.detach().clone().requires_grad_()
                                          for s in _as_tuple(state))
    init = None if s0 is None else (s0 if isinstance(state, tuple) else s0[0])
    o, S = fn(*args, initial_state=init, output_final_state=True, **kw)
    S = _as_tuple(S)
    gen = torch.Generator().manual_seed(1)
    def weights(x):
        return torch.randn(x.shape, generator=gen, dtype=torch.float64).to(x.dtype)

    loss = (o * weights(o)).sum() + sum((s * weights(s)).sum() for s in S)
    leaves = args + list(s0 or ())
    grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    return o.detach(), tuple(s.detach() for s in S), grads


def _double(state):
    if state is None:
        return None
    return tuple(s.double() for s in state) if isinstance(state, tuple) else state.double()


def errors(ref, fn, args, state, ref_kw=None, **kw):
    """Relative errors of ``fn`` vs ``ref``: output, each state tensor, each gradient.

    The reference runs in fp64 whatever the inputs' dtype: an fp32 form is measured against
    the exact answer, not against the fp32 loop's own rounding."""
    o_r, S_r, g_r = outputs_and_grads(ref, [a.double() for a in args], _double(state),
                                      **(ref_kw or {}))
    o, S, g = outputs_and_grads(fn, args, state, **kw)
    err = {"o": rel(o, o_r)}
    err |= {f"S{j}": rel(a, b) for j, (a, b) in enumerate(zip(S, S_r, strict=True))}
    for j, (a, b) in enumerate(zip(g, g_r, strict=True)):
        assert (a is None) == (b is None), f"gradient {j} missing in one form"
        if a is not None:
            err[f"d{j}"] = rel(a, b)
    return err


def assert_close_forms(ref, fn, args, state, tol, **kw):
    err = errors(ref, fn, args, state, **kw)
    bad = {n: e for n, e in err.items() if not e <= tol}
    assert not bad, bad
