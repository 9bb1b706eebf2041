"""The op contract shared by every update rule: validation, form choice, variable-length packing.

Layout (declared once, used everywhere):
    q, k         [B, T, H, K]
    v            [B, T, H, V]
    per-step     [B, T, H]      (β, scalar log-gate g)
    per-key gate [B, T, H, K]   (log-gate g of GLA)
    state S      [B, H, K, V]   (the primer's fast weight matrix is W = Sᵀ)
    cu_seqlens   [N + 1]        int offsets of N packed sequences, requires B == 1

Every check raises ``ValueError`` naming the argument and the shapes involved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

FORMS = ("recurrent", "parallel", "chunk", "auto")


def _fail(msg: str) -> None:
    raise ValueError(msg)


def check_finite(name: str, x: Tensor) -> None:
    if not bool(torch.isfinite(x).all()):
        _fail(f"{name} contains NaN or Inf values")


def check_qkv(q: Tensor, k: Tensor, v: Tensor) -> tuple[int, int, int, int, int]:
    """Validate q, k [B, T, H, K] and v [B, T, H, V]; return (B, T, H, K, V)."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, Tensor):
            _fail(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4:
            _fail(f"{name} must have shape [B, T, H, D] (4 dims), got {tuple(x.shape)}")
        if not x.is_floating_point():
            _fail(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if q.shape != k.shape:
        _fail(f"q and k must have the same shape [B, T, H, K], got q {tuple(q.shape)} "
              f"and k {tuple(k.shape)}")
    if v.shape[:3] != q.shape[:3]:
        _fail(f"v must share B, T, H with q: q {tuple(q.shape)}, v {tuple(v.shape)}")
    if len({q.dtype, k.dtype, v.dtype}) != 1:
        _fail(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if len({q.device, k.device, v.device}) != 1:
        _fail(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    for name, x in (("q", q), ("k", k), ("v", v)):
        check_finite(name, x)
    B, T, H, K = q.shape
    return B, T, H, K, v.shape[-1]


def check_per_step(name: str, x: Tensor, q: Tensor, trailing: Sequence[int] = ()) -> None:
    """Validate a per-step tensor of shape [B, T, H, *trailing] against q [B, T, H, K]."""
    want = tuple(q.shape[:3]) + tuple(trailing)
    if not isinstance(x, Tensor):
        _fail(f"{name} must be a torch.Tensor of shape {want}, got {type(x).__name__}")
    if tuple(x.shape) != want:
        _fail(f"{name} must have shape {want} (B, T, H{', ...' if trailing else ''}) "
              f"to match q {tuple(q.shape)}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        _fail(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.device != q.device:
        _fail(f"{name} is on {x.device} but q is on {q.device}")
    check_finite(name, x)


def check_log_gate(name: str, g: Tensor, q: Tensor, per_key: bool) -> None:
    """Validate a natural-log decay g ≤ 0: [B, T, H], or [B, T, H, K] when ``per_key``."""
    if isinstance(g, Tensor) and per_key and g.dim() == 4:
        check_per_step(name, g, q, trailing=(q.shape[-1],))
    else:
        check_per_step(name, g, q)
    if bool((g > 0).any()):
        _fail(f"{name} is a log-decay and must be <= 0 (α = exp({name}) <= 1), "
              f"got max {g.max().item():.4g}")


def check_state(initial_state: Tensor | None, n: int, H: int, K: int, V: int,
                q: Tensor) -> None:
    """Validate an initial state of shape [n, H, K, V] (n = B, or N with cu_seqlens)."""
    if initial_state is None:
        return
    want = (n, H, K, V)
    if not isinstance(initial_state, Tensor) or tuple(initial_state.shape) != want:
        got = tuple(initial_state.shape) if isinstance(initial_state, Tensor) else initial_state
        _fail(f"initial_state must have shape [N, H, K, V] = {want} for q {tuple(q.shape)}, "
              f"got {got}")
    if not initial_state.is_floating_point():
        _fail(f"initial_state must be floating-point, got dtype {initial_state.dtype}")
    if initial_state.device != q.device:
        _fail(f"initial_state is on {initial_state.device} but q is on {q.device}")
    check_finite("initial_state", initial_state)


def check_cu_seqlens(cu_seqlens: Tensor | None, B: int, T: int) -> int:
    """Validate packed offsets [N + 1] (0 = c_0 < c_1 < ... < c_N = T); return N (B if None)."""
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
    if isinstance(chunk_size, float) and not math.isfinite(chunk_size):
        _fail(f"chunk_size must be a positive integer, got non-finite {chunk_size}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        _fail(f"chunk_size must be a positive integer, got {chunk_size!r}")


def resolve_form(form: str, T: int, available: Sequence[str]) -> str:
    """Map ``form`` to one of the rule's implemented forms.

    "auto" is the recurrent form for a single step (streaming) and the chunk form for any
    longer sequence: on CPU the chunk form is already the faster one, forward + backward,
    from T = 2 or 4 on (every rule at B=64, H=4, K=16, one thread), and a sequence shorter
    than ``chunk_size`` is one chunk.
    """
    if form not in FORMS:
        _fail(f"form must be one of {FORMS}, got {form!r}")
    if form == "auto":
        return "chunk" if "chunk" in available and T > 1 else "recurrent"
    if form not in available:
        _fail(f"form {form!r} is not implemented for this rule; available: {tuple(available)}")
    return form


def dispatch(forms: dict[str, Callable[..., tuple[Tensor, Tensor | None]]], form: str,
             seqs: Sequence[Tensor], *, T: int, scale: float, chunk_size: int,
             initial_state: Tensor | None, output_final_state: bool,
             cu_seqlens: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Run the form of a rule that ``form`` picks (``resolve_form``) on validated inputs
    ``seqs`` ([B, T, ...] each, in the form's argument order), whole or packed."""
    name = resolve_form(form, T, tuple(forms))
    kwargs = {"scale": scale} | ({"chunk_size": chunk_size} if name == "chunk" else {})
    if cu_seqlens is None:
        return forms[name](*seqs, initial_state=initial_state,
                           output_final_state=output_final_state, **kwargs)
    return run_varlen(forms[name], cu_seqlens, seqs, initial_state, output_final_state,
                      **kwargs)


def compute_dtype(x: Tensor) -> torch.dtype:
    """fp64 stays fp64; everything else is computed in fp32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def run_varlen(fn: Callable[..., tuple[Tensor, Tensor | None]], cu_seqlens: Tensor,
               seqs: Sequence[Tensor], initial_state: Tensor | None,
               output_final_state: bool, **kwargs) -> tuple[Tensor, Tensor | None]:
    """Run ``fn`` on each packed sequence alone and stitch the outputs back along T.

    ``seqs`` are the [1, T, H, ...] inputs; sequence n gets ``initial_state[n]`` and returns
    its own final state, so the result equals running every sequence on its own.

    A step whose inputs are all zero leaves the state unchanged in every rule here (k = 0,
    β = 0, g = 0 write nothing and decay nothing), so the sequences are right-padded with
    zeros into one batch [N, max length, ...] and run in a single call, unless padding would
    more than double the work, in which case they run one by one.
    """
    offsets = cu_seqlens.tolist()
    lengths = [b - a for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    N, L = len(lengths), max(lengths)
    if N > 1 and N * L <= 2 * offsets[-1]:
        return _run_padded(fn, offsets, lengths, seqs, initial_state, output_final_state,
                           **kwargs)
    outs, finals = [], []
    for n, (a, b) in enumerate(zip(offsets[:-1], offsets[1:], strict=True)):
        s0 = None if initial_state is None else initial_state[n : n + 1]
        o, s = fn(*(x[:, a:b] for x in seqs), initial_state=s0,
                  output_final_state=output_final_state, **kwargs)
        outs.append(o)
        finals.append(s)
    final = torch.cat(finals, dim=0) if output_final_state else None
    return torch.cat(outs, dim=1), final


def _run_padded(fn, offsets, lengths, seqs, initial_state, output_final_state, **kwargs):
    """The batched varlen path: gather [1, T, ...] into zero-padded [N, L, ...] and back."""
    L, T = max(lengths), offsets[-1]
    device = seqs[0].device
    pos = torch.arange(L, device=device)
    start = torch.tensor(offsets[:-1], device=device)[:, None]
    valid = pos[None, :] < torch.tensor(lengths, device=device)[:, None]  # [N, L]
    # padded slots read row T, a row of zeros appended to each input
    index = torch.where(valid, start + pos[None, :], T)  # [N, L]
    padded = [torch.cat([x[0], x.new_zeros(1, *x.shape[2:])])[index] for x in seqs]
    o, final = fn(*padded, initial_state=initial_state, output_final_state=output_final_state,
                  **kwargs)
    return o[valid].unsqueeze(0), final


def to_chunks(x: Tensor, chunk_size: int) -> Tensor:
    """[B, T, H, *D] → [B, H, N, C, *D], zero-padding T up to N·C (a neutral step)."""
    B, T, H = x.shape[:3]
    n = -(-T // chunk_size)
    pad = n * chunk_size - T
    if pad:
        x = torch.cat([x, x.new_zeros(B, pad, *x.shape[2:])], dim=1)
    return x.movedim(2, 1).reshape(B, H, n, chunk_size, *x.shape[3:])


def from_chunks(x: Tensor, T: int) -> Tensor:
    """[B, H, N, C, *D] → [B, T, H, *D], dropping the padding."""
    B, H, n, c = x.shape[:4]
    return x.reshape(B, H, n * c, *x.shape[4:])[:, :, :T].movedim(1, 2)


def segsum(g: Tensor) -> Tensor:
    """Pairwise log-decays [..., T] → [..., T, T]: out[t, s] = Σ_{s<r≤t} g_r for s ≤ t, else −∞.

    Each entry is summed from s, not taken as a difference of two long cumulative sums,
    so it keeps full precision however long the sequence is (Dao & Gu 2024, the SSD listing).
    """
    T = g.shape[-1]
    ones = torch.ones(T, T, dtype=torch.bool, device=g.device)
    x = g[..., :, None].expand(*g.shape, T).masked_fill(~ones.tril(-1), 0)  # x[t, s] = g_t
    out = x.cumsum(dim=-2)
    return out.masked_fill(~ones.tril(), float("-inf"))


def decay_matrix(b: Tensor) -> Tensor:
    """Within-chunk decays from cumulative log-gates b [..., C]: exp(b_t − b_s) for s ≤ t, else 0.

    b restarts at every chunk, so |b| ≤ C·max|g| and the difference loses nothing; entries
    above the diagonal are masked before the exp, which therefore never overflows.
    """
    C = b.shape[-1]
    lower = torch.ones(C, C, dtype=torch.bool, device=b.device).tril()
    return (b[..., :, None] - b[..., None, :]).masked_fill(~lower, float("-inf")).exp()
