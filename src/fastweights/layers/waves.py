"""Traveling-wave memories: the wave substrate of Karuvally, Sejnowski & Siegelmann (2024,
"Hidden Traveling Waves bind Working Memory Variables in Recurrent Neural Networks") and the
wave-RNN of Keller, Muller, Sejnowski & Welling (2024, "Traveling Waves Encode the Recent Past
and Enhance Sequence Learning").

Traveling-wave memory (``twm``), substrate h ∈ ℝ^{s×d} of s columns h_1 (oldest) … h_s
(newest, the start column), h = 0 at t = 0. Each step every column moves one place along
(h_i ← h_{i+1}; h_1 falls off the open far end) and the start column is set to

    h_s ← (1 − g_t) W_in x_t + g_t f(h)     (``phase="flag"``: g_t = the last input feature,
                                             0 in the input phase, 1 afterwards, as the
                                             ``hds`` task's go flag; with token inputs
                                             it is the one-hot of the last token id)
    h_s ← W_in x_t + f(h)                   (``phase="sum"``: input and boundary always add)

where f reads the substrate before the shift, and the output is the new start column h_s.
Boundary functions:

    lbc:  f(h) = Σ_i A_i h_i                          (a shift plus a low-rank transition;
                                                       H3's shift SSM when f = 0)
    sbc:  f(h) = Σ_i a_i W_v h_i,  a = softmax_i((W_q h_s) · (W_k h_i + p_i) / √d)
                                                      (self-attention over the columns, the
                                                       query from the newest; p_i a learned
                                                       column code, without which attention
                                                       cannot tell the columns' ages apart)

Wave-RNN (``wave-rnn``): h ∈ ℝ^{c×n}, c channels on a ring of n positions, h_0 = 0:

    h_{t+1} = ReLU(W_x x_t + b + u ⋆ h_t)
    (u ⋆ h)[a, i] = Σ_{a'} Σ_{j=0..2} u[a, a', j] h[a', i + j − 1] + b_u[a]   (indices mod n)

``variant="authors"`` (default) follows ``RNN_Cell`` in ``copy/conv_rnn_model.py`` (the same
in ``adding``, ``sMNIST``, ``psMNIST``, ``noisy_CIFAR10``) of akandykeller/Wave_RNNs at commit
2630b88, with its wRNN sweeps' ``init='fwd'``, ReLU and kernel 3: u is a full c×c×3 circular
convolution with its own bias b_u, initialised to the "forward" shift u[a, a, 2] = 1 (else
0), so that without input h_{t+1}[a, i] = h_t[a, i + 1]: the field travels one position per
step towards lower indices; W_x ~ N(0, 0.001²) (their ``solo_init='no'``), b and b_u as
PyTorch's ``Linear`` and ``Conv1d``. ``variant="solo"`` is the same cell with the sweeps'
``solo_init='yes'``: W_x, b = 0 except W_x[(a, 0), :] = 1 (every input drives position 0 of
every channel). The registry default is not ``"solo"`` because with one-hot token inputs it
makes every token drive the field identically at initialisation (tokens are told apart only
once training has moved W_x).

``variant="depthwise"`` (this library's earlier cell): u couples no channels,
u[a, a', j] = 0 for a ≠ a', no b_u, u[a, a, 0] = 1 at init (the mirrored shift: the field
travels towards higher indices), W_x, b as ``nn.Linear``.

The output at step t is h_{t+1}, flattened.

Differences from the authors' code: none in the cell (their model reads out every step's
h_{t+1} with a linear layer, as our cell model does).

| paper | here |
|---|---|
| s, d (TWM) | ``n_columns``, ``d_model`` |
| A_i / W_q, W_k, W_v, p_i | ``A`` [s, d, d] / ``query``, ``key``, ``value``, ``pos`` |
| n, c (wave-RNN) | ``d_model``, ``n_channels`` |
| W_x, b, u, b_u | ``inp``, ``u`` ([c, c, 3], or [c, 3] depthwise), ``u_bias`` |

States: ``{"field": [B, s, d]}`` (TWM) and ``{"field": [B, c, n]}`` (wave-RNN).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types

BOUNDARIES = ("lbc", "sbc")
PHASES = ("flag", "sum")


@dataclass
class TWMConfig:
    d_model: int = 16
    n_columns: int = 8
    boundary: str = "lbc"
    phase: str = "flag"

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.n_columns < 1:
            raise ValueError(f"d_model and n_columns must be >= 1, got {self.d_model}, "
                             f"{self.n_columns}")
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        if self.phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {self.phase!r}")


@dataclass
class TWMIntermediates:
    field: Tensor  # [B, T, s, d]: the substrate after each step, column s the newest


class TravelingWaveMemory(RecurrentCell):
    Intermediates = TWMIntermediates

    def __init__(self, input_size: int, config: TWMConfig):
        super().__init__()
        self.config = config
        s, d = self.s, self.d = config.n_columns, config.d_model
        self.out_size = d
        self.inp = nn.Linear(input_size, d, bias=False)
        if config.boundary == "lbc":
            self.A = nn.Parameter(torch.randn(s, d, d) / (s * d ** 0.5))
        else:
            self.query = nn.Linear(d, d, bias=False)
            self.key = nn.Linear(d, d, bias=False)
            self.value = nn.Linear(d, d, bias=False)
            self.pos = nn.Parameter(torch.randn(s, d) * d ** -0.5)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return {"field": torch.zeros(batch, self.s, self.d, device=device, dtype=dtype)}

    def state_size(self) -> int:
        return self.s * self.d

    def boundary(self, h: Tensor) -> Tensor:
        """f(h): h [B, s, d] → the next start column [B, d]."""
        if self.config.boundary == "lbc":
            return torch.einsum("sij,bsj->bi", self.A, h)
        q = self.query(h[:, -1])  # [B, d]
        k = self.key(h) + self.pos  # [B, s, d]
        a = (torch.einsum("bd,bsd->bs", q, k) * self.d ** -0.5).softmax(-1)
        return torch.einsum("bs,bsd->bd", a, self.value(h))

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h = state["field"]
        u, f = self.inp(x_t), self.boundary(h)
        if self.config.phase == "flag":
            g = x_t[:, -1:]
            start = (1 - g) * u + g * f
        else:
            start = u + f
        h = torch.cat([h[:, 1:], start.unsqueeze(1)], dim=1)
        return start, {"field": h}, {"field": h} if internals else {}


@dataclass
class WaveRNNConfig:
    d_model: int = 32
    n_channels: int = 2
    variant: str = "authors"

    def __post_init__(self) -> None:
        check_types(self)
        if self.variant not in ("authors", "solo", "depthwise"):
            raise ValueError(f"variant must be 'authors', 'solo' or 'depthwise', "
                             f"got {self.variant!r}")
        if self.d_model < 1 or self.n_channels < 1:
            raise ValueError(f"d_model and n_channels must be >= 1, got {self.d_model}, "
                             f"{self.n_channels}")


@dataclass
class WaveRNNIntermediates:
    field: Tensor  # [B, T, c, n]: h_{t+1}


class WaveRNN(RecurrentCell):
    Intermediates = WaveRNNIntermediates

    def __init__(self, input_size: int, config: WaveRNNConfig):
        super().__init__()
        c, n = self.c, self.n = config.n_channels, config.d_model
        self.out_size = c * n
        self.full = config.variant != "depthwise"
        self.inp = nn.Linear(input_size, c * n)
        if not self.full:
            self.u = nn.Parameter(torch.tensor([1.0, 0.0, 0.0]).repeat(c, 1))  # [c, 3]
            self.u_bias = None
            return
        conv = nn.Conv1d(c, c, 3)  # PyTorch's default init of the bias
        self.u = nn.Parameter(torch.zeros(c, c, 3))
        self.u_bias = nn.Parameter(conv.bias.detach().clone())
        with torch.no_grad():
            self.u[torch.arange(c), torch.arange(c), 2] = 1.0
            if config.variant == "authors":
                self.inp.weight.normal_(0.0, 0.001)
            else:
                self.inp.weight.zero_()
                self.inp.bias.zero_()
                self.inp.weight.view(c, n, input_size)[:, 0] = 1.0

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return {"field": torch.zeros(batch, self.c, self.n, device=device, dtype=dtype)}

    def state_size(self) -> int:
        return self.c * self.n

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h = state["field"]  # [B, c, n]
        shifted = torch.stack([h.roll(1, -1), h, h.roll(-1, -1)], dim=-1)  # h[·, i + j − 1]
        if self.full:
            conv = torch.einsum("abj,Bbij->Bai", self.u, shifted) + self.u_bias.unsqueeze(-1)
        else:
            conv = torch.einsum("aj,Baij->Bai", self.u, shifted)
        h = torch.relu(self.inp(x_t).view(-1, self.c, self.n) + conv)
        return h.flatten(1), {"field": h}, {"field": h} if internals else {}
