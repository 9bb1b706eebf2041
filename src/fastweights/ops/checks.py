"""Validation of a rule call against its declaration (``spec.Rule``).

Metadata (types, ranks, shapes, dtypes, devices, ``cu_seqlens``, ``chunk_size``, ``scale``)
is always checked: it costs no device work. Values (non-finite entries, entries outside an
argument's domain) are checked where that is free, on CPU, and elsewhere only when asked:
``fastweights.ops.debug(True)`` or the environment variable ``FASTWEIGHTS_OPS_DEBUG=1``.
So a CUDA call never waits on the device for a check by default.

Every failure is a ``ValueError`` naming the argument, what was expected and what was given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
from torch import Tensor

from fastweights.ops.spec import Rule

_DEBUG = False
ENV = "FASTWEIGHTS_OPS_DEBUG"


def debug(enabled: bool = True) -> bool:
    """Check input values (finite, in domain) on every device, not only on CPU; returns the
    previous setting. With it, a CUDA call syncs with the device once per checked tensor."""
    global _DEBUG
    previous, _DEBUG = _DEBUG, bool(enabled)
    return previous


def values_checked(device: torch.device) -> bool:
    """Whether a call checks values: on CPU or when asked, and never while ``torch.compile``
    traces (a host read there would break the graph)."""
    if torch.compiler.is_compiling():
        return False
    return device.type == "cpu" or _DEBUG or os.environ.get(ENV, "") not in ("", "0")


def _fail(msg: str) -> None:
    raise ValueError(msg)


def _shape(x) -> str:
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def _want(names: tuple[str, ...], dims: dict[str, int]) -> str:
    """``(2, 5, 3, ·) = [B, T, H, V]`` with the sizes bound so far, or ``[B, T, H, K] (4 dims)``."""
    if not any(d in dims for d in names):
        return f"[{', '.join(names)}] ({len(names)} dims)"
    sizes = ", ".join(str(dims.get(d, "·")) for d in names)
    return f"({sizes}{',' if len(names) == 1 else ''}) = [{', '.join(names)}]"


def validate(rule: Rule, tensors: Sequence[Tensor], *, initial_state, cu_seqlens,
             chunk_size: int, scale, options: dict | None = None) -> dict[str, int]:
    """Check a call's metadata against ``rule``; return the bound sizes {"B": .., "T": ..}
    (plus "N", the number of sequences)."""
    if len(tensors) != len(rule.args):
        _fail(f"{rule.name} takes {len(rule.args)} tensors "
              f"({', '.join(a.name for a in rule.args)}), got {len(tensors)}")
    dims: dict[str, int] = {}
    q = tensors[0]
    for arg, x in zip(rule.args, tensors, strict=True):
        if not isinstance(x, Tensor):
            _fail(f"{arg.name} must be a torch.Tensor of shape "
                  f"{_want(tuple(arg.shapes[0].split()), dims)}, got {type(x).__name__}")
        names = arg.dims(x.dim())
        if names is None:
            want = " or ".join(_want(tuple(sh.split()), dims) for sh in arg.shapes)
            _fail(f"{arg.name} must have shape {want}, got {_shape(x)}")
        if any(dims.get(d, n) != n for d, n in zip(names, x.shape, strict=True)):
            _fail(f"{arg.name} must have shape {_want(names, dims)} to match "
                  f"{rule.args[0].name} {_shape(q)}, got {_shape(x)}")
        dims |= dict(zip(names, x.shape, strict=True))
        if not x.is_floating_point():
            _fail(f"{arg.name} must be a floating-point tensor, got dtype {x.dtype}")
        if x.device != q.device:
            _fail(f"{arg.name} is on {x.device} but {rule.args[0].name} is on {q.device}")
        if arg.kind == "feature" and x.dtype != q.dtype:
            _fail(f"{arg.name} must have {rule.args[0].name}'s dtype {q.dtype}, got {x.dtype}")
    if dims.get("n_h", 1) < 1:
        _fail(f"the sub-step axis n_h must be >= 1, got {rule.args[1].name} "
              f"{_shape(tensors[1])}")
    check_chunk_size(chunk_size)
    check_scale(scale)
    dims["N"] = check_cu_seqlens(cu_seqlens, dims["B"], dims["T"])
    check_state(rule, initial_state, dims, q, options or {})
    return dims


def state_shape(rule: Rule, dims: dict[str, int], options: dict) -> list[tuple[int, ...]]:
    """The concrete shape of each state tensor, with the widening of ``State.extra``."""
    shapes = []
    for st in rule.state:
        shapes.append(tuple(dims[d] + int(bool(options.get(st.extra.get(d, ""), False)))
                            for d in st.shape.split()))
    return shapes


def check_state(rule: Rule, initial_state, dims: dict[str, int], q: Tensor,
                options: dict) -> None:
    """An initial state is one tensor (a one-tensor state) or a tuple in ``rule.state``
    order, each [N, ...] with N = B, or the number of sequences with ``cu_seqlens``."""
    if initial_state is None:
        return
    shapes = state_shape(rule, dims, options)
    parts = (initial_state,) if len(rule.state) == 1 else initial_state
    if len(rule.state) > 1 and (not isinstance(parts, tuple | list) or len(parts) != len(shapes)):
        _fail(f"initial_state must be a tuple ({', '.join(s.name for s in rule.state)}), "
              f"got {type(initial_state).__name__}")
    for st, want, x in zip(rule.state, shapes, parts, strict=True):
        label = "initial_state" if len(rule.state) == 1 else f"initial_state {st.name}"
        if not isinstance(x, Tensor) or tuple(x.shape) != want:
            got = _shape(x) if isinstance(x, Tensor) else x
            _fail(f"{label} must have shape [{', '.join(st.shape.split())}] = {want} for "
                  f"{rule.args[0].name} {_shape(q)}, got {got}")
        if not x.is_floating_point():
            _fail(f"{label} must be floating-point, got dtype {x.dtype}")
        if x.device != q.device:
            _fail(f"{label} is on {x.device} but {rule.args[0].name} is on {q.device}")


def check_cu_seqlens(cu_seqlens: Tensor | None, B: int, T: int) -> int:
    """Validate packed offsets [N + 1] (0 = c_0 < c_1 < ... < c_N = T); return N (B if None).

    The offsets are read on the host: the varlen path needs them there anyway."""
    if cu_seqlens is None:
        return B
    if B != 1:
        _fail(f"cu_seqlens requires batch size B == 1 (sequences packed along T), got B = {B}")
    if not isinstance(cu_seqlens, Tensor) or cu_seqlens.dim() != 1 or cu_seqlens.numel() < 2:
        _fail("cu_seqlens must be a 1-D integer tensor [N + 1] of offsets with N >= 1")
    if cu_seqlens.is_floating_point() or cu_seqlens.dtype == torch.bool:
        _fail(f"cu_seqlens must have an integer dtype, got {cu_seqlens.dtype}")
    c = cu_seqlens.tolist()
    if c[0] != 0 or c[-1] != T:
        _fail(f"cu_seqlens must start at 0 and end at T = {T}, got {c[0]} ... {c[-1]}")
    if any(b <= a for a, b in zip(c[:-1], c[1:], strict=True)):
        _fail(f"cu_seqlens must be strictly increasing, got {c}")
    return len(c) - 1


def check_chunk_size(chunk_size: int) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        _fail(f"chunk_size must be a positive integer, got {chunk_size!r}")


def check_scale(scale) -> None:
    if scale is None:
        return
    if isinstance(scale, bool) or not isinstance(scale, int | float):
        _fail(f"scale must be a real number or None, got {type(scale).__name__}")
    if not math.isfinite(scale):
        _fail(f"scale must be finite, got {scale}")


def check_values(rule: Rule, tensors: Sequence[Tensor], initial_state) -> None:
    """Every argument finite and inside its domain; the initial state finite.

    One ``aminmax`` pass per tensor and one host read for all of them: every entry lies in
    [min, max], so finite extremes mean finite entries (a NaN makes both extremes NaN).
    """
    parts = [] if initial_state is None else (
        [initial_state] if isinstance(initial_state, Tensor) else list(initial_state))
    named = [(arg.name, arg.domain, x) for arg, x in zip(rule.args, tensors, strict=True)]
    named += [(f"initial_state{'' if len(rule.state) == 1 else ' ' + st.name}", None, x)
              for st, x in zip(rule.state, parts, strict=True)] if parts else []
    named = [(n, d, x) for n, d, x in named if x.numel()]
    if not named:
        return
    with torch.no_grad():
        pairs = [torch.aminmax(x) for _, _, x in named]
        flat = [t for pair in pairs for t in pair]
        if len({t.dtype for t in flat}) > 1:
            flat = [t.double() for t in flat]
        values = torch.stack(flat).tolist()
    extremes = zip(values[::2], values[1::2], strict=True)
    for (name, domain, _), (lo, hi) in zip(named, extremes, strict=True):
        if not (math.isfinite(lo) and math.isfinite(hi)):
            _fail(f"{name} contains NaN or Inf values")
        if domain is not None and (lo < domain.lo or hi > domain.hi):
            why = f" ({domain.why})" if domain.why else ""
            _fail(f"{name} must satisfy {domain.describe(name)}{why}, got min "
                  f"{lo:.4g}, max {hi:.4g}")
