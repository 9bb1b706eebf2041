"""The model contract shared by every sequence model.

    y, state   = model(x, state=None)      x: tokens [B, T] or features [B, T, input_size]
    y_t, state = model.step(x_t, state)    x_t: tokens [B] or features [B, input_size]
    model.state_size() -> int              floats of recurrent memory per sequence
    y, state, inter = model(x, state, return_intermediates=True)
                                           inter: a small dataclass of per-step internals
                                           (fast weights, synaptic traces, wave field)

y: [B, T, output_size]. The input encoder is an embedding (``tokens=True``) or a linear map;
the readout is a linear head. Subclasses implement
``core(h, state, return_intermediates) -> (h, state[, inter])``; the fast path
(``return_intermediates=False``) pays nothing for the option.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from torch import Tensor, nn


@dataclass
class ModelConfig:
    """Fields every model has: its input and output sizes, set from the task."""

    input_size: int = 37
    output_size: int = 10
    tokens: bool = True


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: model class, its flat config dataclass, the paper, and the preset
    values that define the registry name."""

    cls: type[SequenceModel]
    config: type[ModelConfig]
    paper: str
    preset: dict = field(default_factory=dict)


class SequenceModel(nn.Module):
    #: True when the state grows with the tokens seen (a KV cache): ``state_size()`` then
    #: reports floats per token
    state_grows: ClassVar[bool] = False

    def __init__(self, config: ModelConfig, d_model: int):
        super().__init__()
        self.config = config
        self.encoder = (nn.Embedding(config.input_size, d_model) if config.tokens
                        else nn.Linear(config.input_size, d_model))
        self.head = nn.Linear(d_model, config.output_size)

    def core(self, h: Tensor, state: Any, return_intermediates: bool = False) -> tuple:
        raise NotImplementedError

    def state_size(self) -> int:
        raise NotImplementedError

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check_input(self, x: Tensor, step: bool) -> None:
        c = self.config
        name, lead = ("x_t", "[B]") if step else ("x", "[B, T]")
        want_dim = (1 if step else 2) + (0 if c.tokens else 1)
        if x.dim() != want_dim:
            kind = lead if c.tokens else lead[:-1] + f", {c.input_size}]"
            raise ValueError(f"{name} must have shape {kind}, got {tuple(x.shape)}")
        if c.tokens and x.is_floating_point():
            raise ValueError(f"{name} must hold integer token ids, got dtype {x.dtype}")
        if not c.tokens and x.shape[-1] != c.input_size:
            raise ValueError(f"{name} must have {c.input_size} features in its last dim, "
                             f"got {tuple(x.shape)}")

    def forward(self, x: Tensor, state: Any = None, return_intermediates: bool = False) -> tuple:
        self._check_input(x, step=False)
        h, *rest = self.core(self.encoder(x), state, return_intermediates)
        return self.head(h), *rest

    def step(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One token; equals the whole-sequence call run one step at a time."""
        self._check_input(x_t, step=True)
        y, state = self(x_t.unsqueeze(1), state)
        return y.squeeze(1), state
