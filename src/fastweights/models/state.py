"""The batch-first recurrent state every model returns and accepts.

A ``ModelState`` is an ordered map of named tensors, each with the batch as its first axis
(``"layers.0.S": [B, H, K, V]``, ``"layers.0.conv": [B, C, w−1]``, an LSTM's ``"h"``:
``[B, d]``), plus the value each tensor takes at the start of a sequence (zeros unless a
model says otherwise, e.g. a Tsodyks–Markram synapse starts with x = 1, u = U). It is what
generation (beam reordering, left padding) and RL rollouts (an episode ends in one row of
the batch) need:

    state.select(idx)      keep rows ``idx`` (a LongTensor or a bool mask over the batch)
    state.reset(mask)      rows where ``mask`` [B] is True go back to their initial values
    state.to(device/dtype) move or cast (floating tensors only are cast)
    state.size()           floats carried per sequence (the model's ``state_size()``; integer
                           and bool tensors, such as a KV cache's validity flags, not counted)
    state.check(batch, dtype)  ValueError naming the tensor when it does not fit the input
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
from torch import Tensor


class ModelState(Mapping):
    """Named batch-first tensors with their start-of-sequence values.

    ``initial`` maps a name to a tensor broadcastable to one row (``[1, ...]`` or ``[...]``);
    names it lacks start at zero.
    """

    def __init__(self, tensors: Mapping[str, Tensor],
                 initial: Mapping[str, Tensor] | None = None):
        self.tensors = dict(tensors)
        self.initial = dict(initial or {})
        for name, t in self.tensors.items():
            if t.dim() == 0:
                raise ValueError(f"state tensor {name!r} is a scalar; every state tensor "
                                 f"is [B, ...]")
        batches = {name: t.shape[0] for name, t in self.tensors.items()}
        if len(set(batches.values())) > 1:
            raise ValueError(f"state tensors disagree on the batch size: {batches}")

    def __getitem__(self, name: str) -> Tensor:
        return self.tensors[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.tensors)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{n}: {list(t.shape)}" for n, t in self.tensors.items())
        return f"ModelState({shapes})"

    @property
    def batch_size(self) -> int | None:
        return next((t.shape[0] for t in self.tensors.values()), None)

    def _new(self, tensors: dict[str, Tensor]) -> ModelState:
        return ModelState(tensors, self.initial)

    def select(self, idx: Tensor) -> ModelState:
        """The rows ``idx`` of every tensor (indices, or a bool mask over the batch)."""
        return self._new({n: t[idx] for n, t in self.tensors.items()})

    def reset(self, mask: Tensor) -> ModelState:
        """Rows where ``mask`` ([B] bool) is True restart from their initial values."""
        if mask.dim() != 1 or mask.shape[0] != self.batch_size:
            raise ValueError(f"reset mask must have shape [{self.batch_size}], "
                             f"got {tuple(mask.shape)}")
        out = {}
        for name, t in self.tensors.items():
            start = self.initial.get(name)
            start = (torch.zeros((), dtype=t.dtype, device=t.device) if start is None
                     else start.to(device=t.device, dtype=t.dtype))
            m = mask.to(t.device).view(-1, *([1] * (t.dim() - 1)))
            out[name] = torch.where(m, start, t)
        return self._new(out)

    def to(self, *args, **kwargs) -> ModelState:
        """``Tensor.to`` on every tensor; a dtype casts only the floating ones."""
        def move(t: Tensor) -> Tensor:
            if t.is_floating_point():
                return t.to(*args, **kwargs)
            device = kwargs.get("device") or next(
                (a for a in args if isinstance(a, (str, torch.device))), None)
            return t if device is None else t.to(device)
        return ModelState({n: move(t) for n, t in self.tensors.items()},
                          {n: move(t) for n, t in self.initial.items()})

    def detach(self) -> ModelState:
        """The same values cut from the graph (truncated BPTT)."""
        return self._new({n: t.detach() for n, t in self.tensors.items()})

    def size(self) -> int:
        """Floats carried per sequence: the per-row sizes of the floating tensors, summed."""
        return sum(t[0].numel() for t in self.tensors.values() if t.is_floating_point())

    def check(self, batch: int, dtype: torch.dtype | None = None) -> None:
        """ValueError naming the tensor if the state does not fit a batch of ``batch`` rows
        (or, for floating tensors, ``dtype``)."""
        for name, t in self.tensors.items():
            if t.shape[0] != batch:
                raise ValueError(f"state tensor {name!r} has batch size {t.shape[0]}, but "
                                 f"the input has {batch} sequences")
            if dtype is not None and t.is_floating_point() and t.dtype != dtype:
                raise ValueError(f"state tensor {name!r} has dtype {t.dtype}, but the "
                                 f"model computes in {dtype}")
