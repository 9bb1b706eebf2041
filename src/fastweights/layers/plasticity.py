"""Plasticity baselines of the STPN paper: Fast Weights (Ba, Hinton, Mnih, Leibo & Ionescu 2016,
"Using Fast Weights to Attend to the Recent Past") and the neuromodulated plastic RNN (Miconi,
Stanley & Clune 2018, "Differentiable plasticity"; Miconi et al. 2019, "Backpropamine").

Fast weights (``fast-weights-ba``), state (h ∈ ℝ^d, A ∈ ℝ^{d×d}), A_0 = 0, h_0 = 0:

    A_t = λ A_{t−1} + η h_{t−1} ⊗ h_{t−1}
    p_t = W h_{t−1} + C x_t + b                       the slow (sustained) input
    h⁰ = f(p_t)                                       (``variant="paper"``)
         f(LN(p_t))                                   (``variant="stpn"``)
    hˢ = f(LN(p_t + A_t hˢ⁻¹)) for s = 1 … S;  h_t = h^S
    A_t ← clamp(λ A_t + η h_t ⊗ h_t, ±1000)          (``variant="stpn"`` only: a second
                                                       update, after the step)

with f = ``activation``, LN a layer norm with learned gain and bias, λ = ``decay``,
η = ``eta``, S = ``inner_steps``.

``variant="paper"`` (default) is Ba et al.'s equations (λ = 0.95, η = 0.5, S = 1, ReLU,
W = 0.05·I at init); the authors released no code. ``variant="stpn"`` is the baseline of the
STPN paper: ``FastWeights`` in ``Scripts/STPLayers.py`` run by ``AssociativeRetrievalTask/
run_art.py`` (config ``ART_FW_S1_h20.json``: λ = 0.9, η = 0.5, tanh, S = 1) of
NeuromorphicComputing/stpn at commit d7b346d. There the cell layer-norms h⁰ and its
wrapper (``NoEmbed_AssociativeNet``, which treats the cell as an STPN) applies the generic
plastic update λA + η h_t h_tᵀ, clamped at ±1000, after the step, so h_t ⊗ h_t enters A twice;
every parameter, the layer norm's gain and bias included, starts U(±1/√d) (their
``init_weights``), and [C W] is one matrix over [x_t; h_{t−1}].

Differences from the authors' code (``"stpn"``): none in the cell; set ``decay=0.9`` and
``activation="tanh"`` for their associative-retrieval settings.

Plastic RNN (``plastic-rnn``), state (h ∈ ℝ^d, Hebb ∈ ℝ^{d×d}), Hebb_0 = 0, h_0 = 0:

    h_t = tanh(W x_t + b + (W_h + α ⊙ Hebb_t) h_{t−1})
    M_t = tanh(w_M · h_t + b_M)                       the neuromodulator, a scalar
    Hebb_{t+1} = clip(Hebb_t + M_t h_t ⊗ h_{t−1}, −c, c)            (``"maze"``, ``"legacy"``)
    Hebb_{t+1} = clip(Hebb_t + (η_t h_t) ⊗ h_{t−1}, −c, c),  η_t = w_F M_t + b_F ∈ ℝ^d
                                                                     (``"simple-maze"``)

``variant="maze"`` (default): the ``modplast`` network with ``addpw=3`` of ``maze/batch.py``
in uber-research/backpropamine at commit 180c910 (Backpropamine's maze results; also the
STPN paper's baseline, ``CustomMiconiNetwork`` there): c = 1, W_h, α ~ 0.01·U(0, 1).
``variant="simple-maze"``: ``simplemaze/maze.py`` there, whose modulator fans out to every
postsynaptic neuron through its own weight and bias (w_F, b_F, a ``Linear(1, d)``): c = 2,
W_h, α ~ 0.001·U(0, 1). ``variant="legacy"`` (this library's earlier cell): as ``"maze"``
with W_h, α ~ U(±1/√d). ``clip`` overrides c.

Differences from the authors' code: none in the cell.

| paper | here |
|---|---|
| C, b (Ba) / W, b (Miconi) | ``inp`` |
| W (Ba) / W_h (Miconi) | ``rec`` |
| α, w_M, b_M, w_F, b_F | ``alpha``, ``modulator``, ``fanout`` |

States: ``{"h": [B, d], "A": [B, d, d]}`` (Ba) and ``{"h": [B, d], "hebb": [B, d, d]}``
(Miconi). Both traces are computed here (no ops rule covers them yet).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State
from fastweights.layers.config import check_types
from fastweights.layers.rnn import NONLINEARITIES


@dataclass
class BaFastWeightsConfig:
    d_model: int = 32
    decay: float = 0.95
    eta: float = 0.5
    inner_steps: int = 1
    activation: str = "relu"
    variant: str = "paper"

    def __post_init__(self) -> None:
        check_types(self)
        if self.variant not in ("paper", "stpn"):
            raise ValueError(f"variant must be 'paper' or 'stpn', got {self.variant!r}")
        if self.d_model < 1 or self.inner_steps < 1:
            raise ValueError(f"d_model and inner_steps must be >= 1, got {self.d_model}, "
                             f"{self.inner_steps}")
        if self.activation not in NONLINEARITIES:
            raise ValueError(f"activation must be one of {sorted(NONLINEARITIES)}, "
                             f"got {self.activation!r}")


@dataclass
class BaFastWeightsIntermediates:
    A: Tensor  # [B, T, d, d]
    h: Tensor  # [B, T, d]


class BaFastWeights(RecurrentCell):
    Intermediates = BaFastWeightsIntermediates

    def __init__(self, input_size: int, config: BaFastWeightsConfig):
        super().__init__()
        self.config = config
        d = self.d = self.out_size = config.d_model
        self.act = NONLINEARITIES[config.activation]
        self.inp = nn.Linear(input_size, d)
        self.rec = nn.Parameter(0.05 * torch.eye(d))
        self.norm = nn.LayerNorm(d)
        if config.variant == "stpn":
            with torch.no_grad():
                for p in (self.rec, self.inp.weight, self.inp.bias, self.norm.weight,
                          self.norm.bias):
                    p.uniform_(-d ** -0.5, d ** -0.5)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"h": torch.zeros(batch, self.d, **kw),
                "A": torch.zeros(batch, self.d, self.d, **kw)}

    def state_size(self) -> int:
        return self.d + self.d * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h, A = state["h"], state["A"]
        c = self.config
        A = c.decay * A + c.eta * torch.einsum("bi,bj->bij", h, h)
        p = h @ self.rec.T + self.inp(x_t)
        stpn = c.variant == "stpn"
        hs = self.act(self.norm(p) if stpn else p)
        for _ in range(c.inner_steps):
            hs = self.act(self.norm(p + torch.einsum("bij,bj->bi", A, hs)))
        if stpn:
            A = (c.decay * A + c.eta * torch.einsum("bi,bj->bij", hs, hs)).clamp(-1000, 1000)
        return hs, {"h": hs, "A": A}, {"A": A, "h": hs} if internals else {}


PLASTIC_VARIANTS = {"maze": (1.0, 0.01), "simple-maze": (2.0, 0.001), "legacy": (1.0, None)}


@dataclass
class PlasticRNNConfig:
    d_model: int = 32
    clip: float | None = None  # None: the variant's (1 or 2)
    variant: str = "maze"

    def __post_init__(self) -> None:
        check_types(self)
        if self.variant not in PLASTIC_VARIANTS:
            raise ValueError(f"variant must be one of {tuple(PLASTIC_VARIANTS)}, "
                             f"got {self.variant!r}")
        if self.d_model < 1 or (self.clip is not None and self.clip <= 0):
            raise ValueError(f"d_model must be >= 1 and clip > 0, got {self.d_model}, "
                             f"{self.clip}")


@dataclass
class PlasticRNNIntermediates:
    hebb: Tensor  # [B, T, d, d]: the trace after each step, Hebb_{t+1}
    modulation: Tensor  # [B, T]: M_t
    h: Tensor  # [B, T, d]


class PlasticRNN(RecurrentCell):
    Intermediates = PlasticRNNIntermediates

    def __init__(self, input_size: int, config: PlasticRNNConfig):
        super().__init__()
        clip, scale = PLASTIC_VARIANTS[config.variant]
        self.clip = clip if config.clip is None else config.clip
        d = self.d = self.out_size = config.d_model
        self.inp = nn.Linear(input_size, d)
        if scale is None:
            self.rec = nn.Parameter(torch.empty(d, d).uniform_(-d ** -0.5, d ** -0.5))
            self.alpha = nn.Parameter(torch.empty(d, d).uniform_(-d ** -0.5, d ** -0.5))
        else:
            self.rec = nn.Parameter(scale * torch.rand(d, d))
            self.alpha = nn.Parameter(scale * torch.rand(d, d))
        self.modulator = nn.Linear(d, 1)
        self.fanout = nn.Linear(1, d) if config.variant == "simple-maze" else None

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        kw = dict(device=device, dtype=dtype)
        return {"h": torch.zeros(batch, self.d, **kw),
                "hebb": torch.zeros(batch, self.d, self.d, **kw)}

    def state_size(self) -> int:
        return self.d + self.d * self.d

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple[Tensor, State, dict]:
        h_prev, hebb = state["h"], state["hebb"]
        weights = self.rec + self.alpha * hebb  # [B, d, d]
        h = torch.tanh(self.inp(x_t) + torch.einsum("bij,bj->bi", weights, h_prev))
        m = torch.tanh(self.modulator(h))  # [B, 1]
        eta = m if self.fanout is None else self.fanout(m)  # [B, 1] or [B, d]
        hebb = (hebb + torch.einsum("bi,bj->bij", eta * h, h_prev)).clamp(-self.clip, self.clip)
        inter = {"hebb": hebb, "modulation": m[:, 0], "h": h} if internals else {}
        return h, {"h": h, "hebb": hebb}, inter
