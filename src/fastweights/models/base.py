"""The model contract shared by every sequence model.

    y, state   = model(x, state=None, *, mask=None, cu_seqlens=None)
                       x: tokens [B, T] (ids in [0, input_size)) or features [B, T, input_size]
    y_t, state = model.step(x_t, state, *, mask=None)   x_t: tokens [B] or features [B, I]
    y, state, inter = model(x, state, return_intermediates=True)
                       inter: a small dataclass of per-step internals (fast weights, synaptic
                       traces, wave field), each [B, T, ...]
    model.init_state(batch, device=None, dtype=None) -> ModelState
    model.state_size() -> int          floats of recurrent memory per sequence (== state.size();
                                       a growing state, a KV cache: ``state_size(seq_len)``)

y: [B, T, output_size]. ``state`` is always a batch-first ``ModelState``
(``fastweights.models.state``); one from another batch size, dtype or model is a ValueError.
``mask`` [B, T] bool, True = a real step: a False step writes nothing to any state (a KV
cache appends it as an invalid slot that is never attended to), its output is 0, and the real
steps' outputs are those of the row without its False steps (left-padded prompts, padded
batches). ``cu_seqlens`` [N + 1] (B = 1) packs N sequences in one row: each runs from the
initial state (or row i of a given N-row state), with no leak between them, as N right-padded
rows under a mask; the returned state has one row per sequence (intermediates come in that
padded [N, max length] layout). Inputs are validated here, once, for every model: shapes,
dtypes, token ids (also on CUDA, at one host sync), mask, cu_seqlens and state.

Subclasses build ``encoder`` and ``head`` and implement ``init_core_state(batch, device,
dtype) -> dict``, ``core(h, state: dict, mask, return_intermediates) -> (h, dict[, inter])``
and ``state_size``; ``initial_values()`` names the state tensors that do not start at 0.
Configs are flat dataclasses whose fields are checked against their type hints when built.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from fastweights.layers.config import check_types
from fastweights.models.state import ModelState


@dataclass
class ModelConfig:
    """Fields every model has: its input and output sizes, set from the task."""

    input_size: int = 37
    output_size: int = 10
    tokens: bool = True

    def __post_init__(self) -> None:
        check_types(self)
        if self.input_size < 1 or self.output_size < 1:
            raise ValueError(f"input_size and output_size must be >= 1, got "
                             f"{self.input_size}, {self.output_size}")
        post = getattr(super(), "__post_init__", None)
        if post is not None:
            post()


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: model class, its flat config dataclass, the paper, the preset
    values that define the registry name, and ``layer(d_model, n_heads)``, which builds the
    name's mixer as a stack layer (None when it has none)."""

    cls: type[SequenceModel]
    config: type[ModelConfig]
    paper: str
    preset: dict = field(default_factory=dict)
    layer: typing.Callable[[int, int], nn.Module] | None = None


def make_encoder(config: ModelConfig, d_model: int) -> nn.Module:
    """An embedding for tokens, a linear map for features."""
    return (nn.Embedding(config.input_size, d_model) if config.tokens
            else nn.Linear(config.input_size, d_model))


def prefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {f"{prefix}{n}": t for n, t in tensors.items()}


def unprefixed(prefix: str, tensors: dict[str, Tensor]) -> dict[str, Tensor]:
    return {n.removeprefix(prefix): t for n, t in tensors.items() if n.startswith(prefix)}


class SequenceModel(nn.Module):
    #: True when the state grows with the tokens seen (a KV cache): ``state_size()`` then
    #: reports floats per token
    state_grows: ClassVar[bool] = False
    #: state tensors whose second axis grows with the tokens seen (not shape-checked)
    growing: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: ModelConfig, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.config, self.encoder, self.head = config, encoder, head

    def init_core_state(self, batch: int, device, dtype) -> dict[str, Tensor]:
        raise NotImplementedError

    def initial_values(self) -> dict[str, Tensor]:
        return {}

    def core(self, h: Tensor, state: dict[str, Tensor], mask: Tensor | None,
             return_intermediates: bool = False) -> tuple:
        raise NotImplementedError

    def state_size(self) -> int:
        raise NotImplementedError

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def init_state(self, batch: int, device=None, dtype=None) -> ModelState:
        """The state before the first token, for ``batch`` sequences."""
        p = next(self.parameters())
        return ModelState(self.init_core_state(batch, device or p.device, dtype or p.dtype),
                          self.initial_values())

    def _check_input(self, x: Tensor, step: bool) -> None:
        c = self.config
        name, lead = ("x_t", "[B]") if step else ("x", "[B, T]")
        want_dim = (1 if step else 2) + (0 if c.tokens else 1)
        if not isinstance(x, Tensor) or x.dim() != want_dim:
            kind = lead if c.tokens else lead[:-1] + f", {c.input_size}]"
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name} must have shape {kind}, got {got}")
        if c.tokens:
            if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
                raise ValueError(f"{name} must hold integer token ids, got dtype {x.dtype}")
            # one reduction and one host read; none while torch.compile traces (a graph break)
            skip = torch.compiler.is_compiling() or not x.numel()
            lo, hi = (0, 0) if skip else torch.stack(torch.aminmax(x)).tolist()
            if lo < 0 or hi >= c.input_size:
                raise ValueError(f"{name} holds token ids in [{lo}, {hi}], outside "
                                 f"[0, {c.input_size})")
        else:
            if x.shape[-1] != c.input_size:
                raise ValueError(f"{name} must have {c.input_size} features in its last dim, "
                                 f"got {tuple(x.shape)}")
            if x.dtype != self.dtype:
                raise ValueError(f"{name} has dtype {x.dtype}, but the model computes in "
                                 f"{self.dtype}")

    def _check_state(self, state: Any, batch: int) -> None:
        if not isinstance(state, ModelState):
            raise ValueError(f"state must be a ModelState (from this model's forward, step or "
                             f"init_state), got {type(state).__name__}")
        state.check(batch, self.dtype)
        want = self.init_core_state(1, "meta", self.dtype)
        if set(want) != set(state):
            raise ValueError(f"state has tensors {sorted(state)}, but this model carries "
                             f"{sorted(want)}")
        for name, t in want.items():
            got = state[name].shape[1:]
            if name not in self.growing and got != t.shape[1:]:
                raise ValueError(f"state tensor {name!r} has per-sequence shape "
                                 f"{list(got)}, but this model's is {list(t.shape[1:])}")

    @staticmethod
    def _check_mask(mask: Tensor | None, shape: tuple[int, ...], name: str = "mask") -> None:
        if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool
                                 or tuple(mask.shape) != shape):
            got = (f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor)
                   else type(mask).__name__)
            raise ValueError(f"{name} must be a bool tensor of shape {list(shape)}, got {got}")

    def forward(self, x: Tensor, state: ModelState | None = None, *,
                mask: Tensor | None = None, cu_seqlens: Tensor | None = None,
                scored: Tensor | None = None, return_intermediates: bool = False) -> tuple:
        """y [B, T, out], the final state (and the intermediates when asked).

        ``scored`` (bool [B, T]) runs the head only where it is True and returns y [N, out]
        for those N positions in row-major order, ``y_full[scored]``: training reads the
        loss there, and a wide head (an 8,192-token vocabulary scored at 4 of 64 positions)
        then costs N rows instead of B·T."""
        self._check_input(x, step=False)
        self._check_mask(mask, tuple(x.shape[:2]))
        self._check_mask(scored, tuple(x.shape[:2]), "scored")
        if cu_seqlens is not None:
            y, *rest = self._packed(x, state, mask, cu_seqlens, return_intermediates)
            return (y if scored is None else y[scored]), *rest
        B = x.shape[0]
        if state is None:
            state = self.init_state(B, x.device)
        else:
            self._check_state(state, B)
        h, tensors, *inter = self.core(self.encoder(x), dict(state), mask,
                                       return_intermediates)
        if scored is not None:
            h, mask = h[scored], None if mask is None else mask[scored]
        y = self.head(h)
        if mask is not None:
            y = y.masked_fill(~mask[..., None], 0.0)
        return y, ModelState(tensors, self.initial_values()), *inter

    def _packed(self, x: Tensor, state: ModelState | None, mask: Tensor | None,
                cu_seqlens: Tensor, return_intermediates: bool) -> tuple:
        """Run the N sequences packed in row 0 as N right-padded rows; y back in packing."""
        T = x.shape[1]
        cu = cu_seqlens
        if (not isinstance(cu, Tensor) or cu.dim() != 1 or cu.numel() < 2
                or cu.is_floating_point() or x.shape[0] != 1):
            raise ValueError(f"cu_seqlens must be a 1-D integer tensor [N + 1] with x of batch "
                             f"1, got {cu if not isinstance(cu, Tensor) else tuple(cu.shape)} "
                             f"and x {tuple(x.shape)}")
        lengths = cu.diff()
        if int(cu[0]) != 0 or int(cu[-1]) != T or bool((lengths < 0).any()):
            raise ValueError(f"cu_seqlens must rise from 0 to T = {T}, got {cu.tolist()}")
        cu = cu.to(x.device)
        L = int(lengths.max())
        steps = torch.arange(L, device=x.device)
        pos = (cu[:-1, None] + steps).clamp(max=max(T - 1, 0))  # [N, L]
        valid = steps < lengths.to(x.device)[:, None]
        if mask is not None:
            valid = valid & mask[0][pos]
        y, state, *inter = self(x[0][pos], state, mask=valid,
                                return_intermediates=return_intermediates)
        real = steps < lengths.to(x.device)[:, None]
        return y[real].unsqueeze(0), state, *inter

    def step(self, x_t: Tensor, state: ModelState | None = None, *,
             mask: Tensor | None = None) -> tuple[Tensor, ModelState]:
        """One token (``mask`` [B]: False rows write nothing); equals the whole-sequence
        call run one step at a time."""
        self._check_input(x_t, step=True)
        self._check_mask(mask, tuple(x_t.shape[:1]))
        y, state = self(x_t.unsqueeze(1), state, mask=None if mask is None else mask[:, None])
        return y.squeeze(1), state
