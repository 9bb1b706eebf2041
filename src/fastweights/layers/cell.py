"""Recurrent cells and sequence mixers, and the adapters between them.

A **mixer** maps a sequence to a sequence with a carried state of named batch-first tensors:

    y, state        = mixer(x [B, T, D], state: dict | None, *, mask=None)
    y, state, inter = mixer(x, state, mask=mask, return_intermediates=True)
    mixer.init_state(batch, device, dtype) -> dict[str, Tensor]   (each [B, ...])
    mixer.state_size() -> int                                    floats per sequence
    mixer.initial_values() -> dict   (optional) start values that are not 0, each [1, ...]
    mixer.growing: tuple[str, ...]   (optional) state tensors that grow with the tokens seen
                                     (a KV cache); its ``state_size(seq_len)`` then counts them

``mask`` [B, T] (bool, True = a real step): a False step writes nothing to the state, and the
real steps' outputs are those of the sequence with the False steps removed.

A **recurrent cell** is a mixer written as one step (the ``RecurrentCell`` protocol):

    y_t, state = cell.step(x_t [B, I], state)        and    cell.scan(x, state, mask=...)

``RecurrentCell`` is the base for cells with a nonlinear feedback loop: subclasses implement
``init_state`` and ``cell(x_t, state, internals) -> (y_t, state, internals)``; ``scan`` (also
``forward``) loops over t, keeping a masked row's state:

    s_t = m_t · cell(x_t, s_{t−1}) + (1 − m_t) · s_{t−1}

``CellLayer`` makes a cell a stack layer (input d_model, output projected back to d_model
when the cell's output width differs); ``MixerCell`` makes any mixer (a DeltaNet layer,
attention) a cell whose ``step`` is the mixer on one step.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor, nn

State = dict[str, Tensor]


class Mixer(Protocol):
    def init_state(self, batch: int, device=None, dtype=None) -> State: ...

    def state_size(self) -> int: ...

    def __call__(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
                 return_intermediates: bool = False) -> tuple: ...


def keep_masked(new: State, old: State, m: Tensor | None) -> State:
    """Rows where ``m`` [B] is False keep ``old``; the others take ``new``."""
    if m is None:
        return new
    return {n: torch.where(m.view(-1, *[1] * (t.dim() - 1)), t, old[n]) for n, t in new.items()}


class RecurrentCell(nn.Module):
    """Base class: subclasses set ``out_size`` and ``Intermediates`` and implement
    ``init_state``, ``cell`` and ``state_size``."""

    out_size: int
    Intermediates: type

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        """The state before the first step: named tensors, each [batch, ...]."""
        raise NotImplementedError

    def initial_values(self) -> State:
        """Start values that are not zero (e.g. a learned initial matrix), each [1, ...]."""
        return {}

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        """One step: ``x_t [B, I]`` → ``y_t [B, out_size]``, the new state, and (when
        ``internals``) a dict of this step's internals named as ``Intermediates``' fields."""
        raise NotImplementedError

    def state_size(self) -> int:
        raise NotImplementedError

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.device, x_t.dtype)
        y, state, _ = self.cell(x_t, state, False)
        return y, state

    def scan(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
             return_intermediates: bool = False) -> tuple:
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        ys, steps = [], []
        for t, x_t in enumerate(x.unbind(1)):
            y_t, new, internals = self.cell(x_t, state, return_intermediates)
            state = keep_masked(new, state, None if mask is None else mask[:, t])
            ys.append(y_t)
            steps.append(internals)
        y = torch.stack(ys, 1) if ys else x.new_zeros(x.shape[0], 0, self.out_size)
        if not return_intermediates:
            return y, state
        inter = self.Intermediates(**{k: torch.stack([s[k] for s in steps], 1)
                                      for k in (steps[0] if steps else {})})
        return y, state, inter

    forward = scan


class CellLayer(nn.Module):
    """A cell as a stack layer: y = cell(x) (then W_o y when out_size ≠ d_model)."""

    def __init__(self, cell: RecurrentCell, d_model: int):
        super().__init__()
        self.cell = cell
        self.proj = (nn.Linear(cell.out_size, d_model, bias=False)
                     if cell.out_size != d_model else None)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return self.cell.init_state(batch, device, dtype)

    def initial_values(self) -> State:
        return self.cell.initial_values()

    def state_size(self) -> int:
        return self.cell.state_size()

    def forward(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
                return_intermediates: bool = False) -> tuple:
        y, *rest = self.cell.scan(x, state, mask=mask, return_intermediates=return_intermediates)
        return (y if self.proj is None else self.proj(y)), *rest


class MixerCell(RecurrentCell):
    """Any mixer as a cell: ``step(x_t, s)`` is the mixer run on the one step x_t."""

    def __init__(self, mixer: nn.Module, out_size: int):
        super().__init__()
        self.mixer, self.out_size = mixer, out_size
        self.Intermediates = None

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return self.mixer.init_state(batch, device, dtype)

    def initial_values(self) -> State:
        return getattr(self.mixer, "initial_values", dict)()

    def state_size(self) -> int:
        return self.mixer.state_size()

    def step(self, x_t: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        y, state = self.mixer(x_t.unsqueeze(1), state)
        return y.squeeze(1), state

    def scan(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
             return_intermediates: bool = False) -> tuple:
        return self.mixer(x, state, mask=mask, return_intermediates=return_intermediates)

    forward = scan
