"""Running a rule: validation, then the choice of backend and form, whole or packed.

``call`` is the body of every public rule function. Form and backend are separate choices:

- ``form``: ``"recurrent"`` (the reference), ``"parallel"``, ``"chunk"`` or ``"auto"``
  (the recurrent form for a single step, the chunk form for any longer sequence: on CPU
  the chunk form is already the faster one, forward + backward, from T = 2 or 4 on, and a
  sequence shorter than ``chunk_size`` is one chunk);
- ``backend``: ``"torch"`` (the forms in the rule module), ``"fla"`` (flash-linear-attention's
  Triton kernels, CUDA only, ``backends.fla``) or ``"auto"`` (fla when it serves the call,
  torch otherwise).

T = 0 is answered by the reference whatever the form: an empty output and the initial state.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from fastweights.ops import checks
from fastweights.ops.backends import fla
from fastweights.ops.spec import BACKENDS, FORMS, Rule


def call(rule: Rule, tensors: Sequence[Tensor], *, scale: float | None,
         initial_state, output_final_state: bool, form: str, chunk_size: int,
         cu_seqlens: Tensor | None, backend: str, options: dict | None = None):
    """Validate a call of ``rule`` (``tensors`` in ``rule.args`` order) and run it."""
    dims = checks.validate(rule, tensors, initial_state=initial_state, cu_seqlens=cu_seqlens,
                           chunk_size=chunk_size, scale=scale, options=options)
    if checks.values_checked(tensors[0].device):
        checks.check_values(rule, tensors, initial_state)
    return execute(rule, tensors, dims, scale=scale, initial_state=initial_state,
                   output_final_state=output_final_state, form=form, chunk_size=chunk_size,
                   cu_seqlens=cu_seqlens, backend=backend)


def resolve_form(rule: Rule, form: str, T: int) -> str:
    """Map ``form`` to one of the rule's implemented forms (see the module docstring)."""
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "auto":
        return "chunk" if "chunk" in rule.forms and T > 1 else "recurrent"
    if form not in rule.forms:
        raise ValueError(f"form {form!r} is not implemented for {rule.name}; available: "
                         f"{tuple(rule.forms)}")
    return form


def execute(rule: Rule, tensors: Sequence[Tensor], dims: dict[str, int], *,
            scale: float | None, initial_state, output_final_state: bool, form: str,
            chunk_size: int, cu_seqlens: Tensor | None, backend: str):
    """Run validated inputs: pick the backend and form, then run whole or packed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    name = resolve_form(rule, form, dims["T"])
    scale = dims["K"] ** -0.5 if scale is None else scale
    if dims["T"] == 0:
        name = "recurrent"
    elif (kernel := fla.pick(rule, backend, name, tensors, dims, cu_seqlens)) is not None:
        return kernel(*tensors, scale=scale, initial_state=initial_state,
                      output_final_state=output_final_state, cu_seqlens=cu_seqlens)
    fn = rule.forms[name]
    kwargs = {"scale": scale} | ({"chunk_size": chunk_size} if name == "chunk" else {})
    if cu_seqlens is None:
        return fn(*tensors, initial_state=initial_state, output_final_state=output_final_state,
                  **kwargs)
    return run_varlen(rule, fn, cu_seqlens, tensors, initial_state, output_final_state,
                      **kwargs)


def _cat_states(finals: list):
    if isinstance(finals[0], Tensor):
        return torch.cat(finals, dim=0)
    return tuple(torch.cat(parts, dim=0) for parts in zip(*finals, strict=True))


def _state_rows(initial_state, a: int, b: int):
    if initial_state is None:
        return None
    if isinstance(initial_state, Tensor):
        return initial_state[a:b]
    return tuple(s[a:b] for s in initial_state)


def run_varlen(rule: Rule, fn: Callable, cu_seqlens: Tensor, tensors: Sequence[Tensor],
               initial_state, output_final_state: bool, **kwargs):
    """Run ``fn`` on each packed sequence alone and stitch the outputs back along T.

    ``tensors`` are the [1, T, ...] inputs; sequence n gets ``initial_state[n]`` and returns
    its own final state, so the result equals running every sequence on its own.

    The sequences are right-padded with each argument's neutral value (``Arg.neutral``: a
    step that leaves the state unchanged) into one batch [N, max length, ...] and run in a
    single call, unless padding would more than double the work or the rule has no neutral
    step (``Rule.neutral_steps``); then they run one by one.
    """
    offsets = cu_seqlens.tolist()
    lengths = [b - a for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    N, L, T = len(lengths), max(lengths), offsets[-1]
    if N > 1 and N * L <= 2 * T and rule.neutral_steps:
        device = tensors[0].device
        pos = torch.arange(L, device=device)
        start = torch.tensor(offsets[:-1], device=device)[:, None]
        valid = pos[None, :] < torch.tensor(lengths, device=device)[:, None]  # [N, L]
        # padded slots read row T, one row of the neutral value appended to each input
        index = torch.where(valid, start + pos[None, :], T)  # [N, L]
        padded = [torch.cat([x[0], x.new_full((1, *x.shape[2:]), arg.neutral)])[index]
                  for arg, x in zip(rule.args, tensors, strict=True)]
        o, final = fn(*padded, initial_state=initial_state,
                      output_final_state=output_final_state, **kwargs)
        return o[valid].unsqueeze(0), final
    outs, finals = [], []
    for n, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        o, s = fn(*(x[:, a:b] for x in tensors), initial_state=_state_rows(initial_state, n, n + 1),
                  output_final_state=output_final_state, **kwargs)
        outs.append(o)
        finals.append(s)
    return torch.cat(outs, dim=1), (_cat_states(finals) if output_final_state else None)
