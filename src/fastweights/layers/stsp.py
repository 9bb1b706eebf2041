"""Tsodyks–Markram short-term synaptic plasticity (STSP) in a Dale's-law rate RNN, after
Masse, Yang, Song, Wang & Freedman 2019 ("Circuit mechanisms for the maintenance and
manipulation of information in working memory", Nat. Neurosci.) and Mongillo, Barak &
Tsodyks 2008.

Synapse of presynaptic neuron j (rate r_j ≥ 0 in spikes/s, time in s):

    dx/dt = (1 − x)/τ_x − u x r        x: available resources (depression)
    du/dt = (U − u)/τ_u + U (1 − u) r  u: utilisation (facilitation)
    efficacy = u · x                   (x = 1, u = U at rest)

Discretised with a step dt (ms) as the authors' code does (explicit Euler, x before u, both
clipped to [0, 1]; α_x = dt/τ_x, α_u = dt/τ_u, Δ = dt/1000 s):

    x' = clip(x + α_x (1 − x) − Δ u x r, 0, 1)
    u' = clip(u + α_u (U − u) + Δ U (1 − u) r, 0, 1)

Under a constant rate r both converge to the fixed point of the continuous equations
(``steady_state``): u* = U (1 + τ_u r)/(1 + U τ_u r), x* = 1/(1 + τ_x u* r).

Rate RNN of d units, the first n_E = round(0.8 d) excitatory, the rest inhibitory; input
x_t ≥ 0 (features); h_t ≥ 0 the rates; α = dt/τ_m:

    x̃_t = relu(x_t + σ_in ξ_t)                          ξ ~ N(0, I), training mode only
    (syn_x, syn_u)_t = synapse(syn_x_{t−1}, syn_u_{t−1}, h_{t−1})
    h_t = relu((1 − α) h_{t−1} + α (x̃_t W_in⁺ + (u_t x_t ⊙ h_{t−1}) W_rec + b) + σ_rec ζ_t)
    W_in⁺ = relu(W_in)                                  input synapses excitatory
    W_rec = D relu(W̃_rec) ⊙ (1 − I)                     D = diag(+1 E, −1 I): Dale's law,
                                                        no self-connections
    output y_t = h_t[:n_E]                              (the excitatory rates, which the
                                                        model reads out with W_out ≥ 0)

Noise: σ_rec = √(2α) σ_rec0, σ_in = √(2/α) σ_in0 (the authors' scaling, so that both are
continuous-time white noise of standard deviations σ_rec0, σ_in0). Units alternate
facilitating (even index) and depressing (odd index), E and I alike (the authors'
``synapse_config="full"``). Initialisation: W̃_rec ~ Gamma(0.1, 1), rows and columns of
inhibitory units ~ Gamma(0.2, 1) (``balance_EI``); W_in ~ Gamma(0.2, 1); b = 0; h_0 = 0.1,
learned; with ``synapses="none"`` W̃_rec is divided by 3 (static synapses transmit
more than u·x < 1, as in the code). The loss adds ``rate_cost · mean(h²)`` (``rate_loss``).

A population: with ``n_networks = P`` the module holds P independent networks (every
parameter gets a leading axis P, each drawn on its own) and the batch is split into P equal
groups of rows, group p run by network p; the authors train 20 networks per task, and one
pass over P networks costs little more than one on a CPU. ``split_networks`` (in
``fastweights.models.stsp``) takes them apart. ``reset`` restarts h at network 0's h_0.

| paper / code | here |
|---|---|
| h, syn_x, syn_u | state ``h``, ``x``, ``u``; intermediates ``h``, ``syn_x``, ``syn_u`` |
| syn_x · syn_u | intermediates ``efficacy`` |
| w_in, w_rnn, b_rnn, h0 | ``w_in``, ``w_rec``, ``b``, ``h0`` |
| U, τ_fast, τ_slow (fac: τ_x = τ_fast, τ_u = τ_slow; dep: reverse) | ``STSPConfig`` fields |
| membrane_time_constant, spike_cost | ``tau_m``, ``rate_cost`` |
| noise_rnn_sd, noise_in_sd | ``noise_rec``, ``noise_in`` |

Differences from the authors' code (github.com/nmasse/Short-term-plasticity-RNN, model.py,
parameters.py, read at its latest commit):

- The input noise is added by the model (in training mode), not by the trial generator; the
  rectification of the noisy input is the same.
- Noise is drawn only in training mode (as dropout), so that an evaluated network is
  deterministic and ``step`` equals the whole-sequence call; the authors' networks are always
  noisy. The decoding analyses (``fastweights.analysis.decoding``) run the network in
  training mode, with its noise, as the authors' analyses did.
- The synapse state is per presynaptic neuron, as in the code (the paper's per-synapse
  equations reduce to it: u and x depend only on the presynaptic rate).
- Weights are float parameters with the sign constraint applied by ``relu`` in the forward,
  as in the code; the self-connection mask is applied in the forward too (the code masks
  the initial weights and their gradients, which is the same).
- The learned initial rate enters as relu(h_0) (the code uses h_0 as it is; both start at
  0.1 and differ only if training drives h_0 below zero).
- The rate cost is ``rate_cost · mean(h²)`` as in the code, but the task loss it is added to
  (``Task.loss``) averages the cross-entropy over the scored steps only; the code averages
  mask × cross-entropy over all steps (a factor T/scored ≈ 1.02 on the task term for the
  default timing).
- Gradient clipping, Adam's learning rate and the batch are training choices and live in the
  trainer, not here (``fastweights.reproduce.activity_silent`` uses the authors').
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.layers.cell import RecurrentCell, State, keep_masked
from fastweights.layers.config import check_types

SYNAPSES = ("full", "fac", "dep", "none")


@dataclass
class STSPConfig:
    d_model: int = 100  # units (n_hidden)
    exc_fraction: float = 0.8  # share of excitatory units (exc_inh_prop)
    dt: float = 10.0  # ms
    tau_m: float = 100.0  # membrane time constant, ms
    synapses: str = "full"  # full: alternate facilitating/depressing; fac; dep; none
    U_fac: float = 0.15
    tau_x_fac: float = 200.0  # ms (tau_fast)
    tau_u_fac: float = 1500.0  # ms (tau_slow)
    U_dep: float = 0.45
    tau_x_dep: float = 1500.0
    tau_u_dep: float = 200.0
    noise_rec: float = 0.5  # noise_rnn_sd
    noise_in: float = 0.1  # noise_in_sd
    rate_cost: float = 2e-2  # spike_cost, on mean(h²)
    h0: float = 0.1  # initial rate (learned)
    n_networks: int = 1  # independent networks side by side (see below)

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1:
            raise ValueError(f"d_model must be >= 1, got {self.d_model}")
        if not 0 < self.exc_fraction < 1:
            raise ValueError(f"exc_fraction must be in (0, 1), got {self.exc_fraction}")
        if self.synapses not in SYNAPSES:
            raise ValueError(f"synapses must be one of {SYNAPSES}, got {self.synapses!r}")
        for name in ("dt", "tau_m", "tau_x_fac", "tau_u_fac", "tau_x_dep", "tau_u_dep"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0 ms, got {getattr(self, name)}")
        if self.dt > self.tau_m:
            raise ValueError(f"dt ({self.dt} ms) must not exceed tau_m ({self.tau_m} ms)")
        for name in ("U_fac", "U_dep"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)}")
        if self.n_networks < 1:
            raise ValueError(f"n_networks must be >= 1, got {self.n_networks}")
        for name in ("noise_rec", "noise_in", "rate_cost", "h0"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def n_exc(self) -> int:
        """round(exc_fraction · d), keeping at least one unit of each kind when d >= 2."""
        return max(1, min(self.d_model - 1, round(self.exc_fraction * self.d_model)))


def synapse_step(x: Tensor, u: Tensor, r: Tensor, U: Tensor, alpha_x: Tensor,
                 alpha_u: Tensor, dt_s: float) -> tuple[Tensor, Tensor]:
    """One Euler step of the Tsodyks–Markram synapse (x before u, both clipped to [0, 1]).

    x, u, r: [B, d] (r in spikes/s); U, alpha_x, alpha_u: [d] (α = dt/τ); dt_s: dt in s.
    """
    x_new = (x + alpha_x * (1 - x) - dt_s * u * x * r).clamp(0, 1)
    u_new = (u + alpha_u * (U - u) + dt_s * U * (1 - u) * r).clamp(0, 1)
    return x_new, u_new


def steady_state(r: Tensor | float, U: Tensor | float, tau_x: Tensor | float,
                 tau_u: Tensor | float) -> tuple[Tensor, Tensor]:
    """(x*, u*) under a constant rate r (spikes/s), τ in s:
    u* = U (1 + τ_u r)/(1 + U τ_u r), x* = 1/(1 + τ_x u* r)."""
    r, U, tau_x, tau_u = (torch.as_tensor(v, dtype=torch.float64) for v in (r, U, tau_x, tau_u))
    u = U * (1 + tau_u * r) / (1 + U * tau_u * r)
    return 1 / (1 + tau_x * u * r), u


@dataclass
class STSPIntermediates:
    h: Tensor  # [B, T, d] rates after each step
    syn_x: Tensor  # [B, T, d] available resources used at step t
    syn_u: Tensor  # [B, T, d] utilisation used at step t
    efficacy: Tensor  # [B, T, d] u · x


def gamma_weights(shape: tuple[int, ...], k: float) -> Tensor:
    """Weights drawn from Gamma(k, 1), as the authors initialise every weight magnitude.
    ``validate_args=False``: the argument check syncs, which a meta-device build cannot do."""
    return torch.distributions.Gamma(k, 1.0, validate_args=False).sample(shape)


class STSPRNN(RecurrentCell):
    """The Dale's-law rate RNN with Tsodyks–Markram synapses; ``out_size`` = n_E."""

    Intermediates = STSPIntermediates

    def __init__(self, input_size: int, config: STSPConfig):
        super().__init__()
        c = self.config = config
        d, n_exc = self.d, self.n_exc = config.d_model, config.n_exc
        self.out_size = n_exc
        self.alpha = c.dt / c.tau_m
        P = self.P = c.n_networks
        gamma = gamma_weights
        w_rec = gamma((P, d, d), 0.1)
        w_rec[..., n_exc:] = gamma((P, d, d - n_exc), 0.2)
        w_rec[:, n_exc:, :] = gamma((P, d - n_exc, d), 0.2)
        if c.synapses == "none":
            # static synapses are stronger than u·x < 1; the authors scale them down by 3
            w_rec = w_rec / 3
        self.w_rec = nn.Parameter(w_rec)  # [P, pre, post]
        self.w_in = nn.Parameter(gamma((P, input_size, d), 0.2))
        self.b = nn.Parameter(torch.zeros(P, d))
        self.h0 = nn.Parameter(torch.full((P, d), c.h0))
        sign = torch.ones(d)
        sign[n_exc:] = -1
        self.register_buffer("dale", sign[:, None] * (1 - torch.eye(d)), persistent=False)
        fac = torch.arange(d) % 2 == 0
        if c.synapses == "fac":
            fac = torch.ones(d, dtype=torch.bool)
        elif c.synapses == "dep":
            fac = torch.zeros(d, dtype=torch.bool)
        pick = lambda a, b: torch.where(fac, a, b)  # noqa: E731
        self.register_buffer("U", pick(torch.tensor(c.U_fac), torch.tensor(c.U_dep)),
                             persistent=False)
        self.register_buffer("alpha_x", c.dt / pick(torch.tensor(c.tau_x_fac),
                                                    torch.tensor(c.tau_x_dep)), persistent=False)
        self.register_buffer("alpha_u", c.dt / pick(torch.tensor(c.tau_u_fac),
                                                    torch.tensor(c.tau_u_dep)), persistent=False)

    def recurrent_weights(self) -> Tensor:
        """W_rec = D relu(W̃_rec) ⊙ (1 − I): [P, pre, post], row j signed by unit j's type."""
        return self.dale * torch.relu(self.w_rec)

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        """h = relu(h_0) of each row's network, x = 1, u = U."""
        net = torch.arange(batch, device=self.h0.device) * self.P // batch
        h = torch.relu(self.h0)[net].to(device=device, dtype=dtype)
        return {"h": h, "x": torch.ones(batch, self.d, device=device, dtype=dtype),
                "u": self.U.to(device=device, dtype=dtype).expand(batch, self.d).clone()}

    def initial_values(self) -> State:
        return {"h": torch.relu(self.h0[:1]).detach(), "x": torch.ones(1, self.d),
                "u": self.U[None]}

    def state_size(self) -> int:
        return 3 * self.d

    def scan(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
             return_intermediates: bool = False) -> tuple:
        """The loop over t of ``cell``, with the input drive of every step and the signed
        recurrent weights computed once; a masked row keeps its state."""
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        drive, w_rec = self.input_drive(x), self.recurrent_weights()
        h, syn_x, syn_u = state["h"], state["x"], state["u"]
        steps = []
        # unbind, not drive[:, t]: one gradient buffer for all steps, not one per step
        for t, drive_t in enumerate(drive.unbind(1)):
            new = dict(zip("hxu", self.recur(drive_t, w_rec, h, syn_x, syn_u), strict=True))
            new = keep_masked(new, {"h": h, "x": syn_x, "u": syn_u},
                              None if mask is None else mask[:, t])
            h, syn_x, syn_u = new["h"], new["x"], new["u"]
            steps.append((h, syn_x, syn_u))
        hs, xs, us = (torch.stack(v, 1) for v in zip(*steps, strict=True))
        y, final = hs[..., :self.n_exc], {"h": h, "x": syn_x, "u": syn_u}
        if not return_intermediates:
            return y, final
        return y, final, STSPIntermediates(h=hs, syn_x=xs, syn_u=us, efficacy=us * xs)

    forward = scan

    def cell(self, x_t: Tensor, state: State, internals: bool) -> tuple:
        h, syn_x, syn_u = self.recur(self.input_drive(x_t), self.recurrent_weights(),
                                     state["h"], state["x"], state["u"])
        inter = ({"h": h, "syn_x": syn_x, "syn_u": syn_u, "efficacy": syn_u * syn_x}
                 if internals else {})
        return h[:, :self.n_exc], {"h": h, "x": syn_x, "u": syn_u}, inter

    def _check_batch(self, B: int) -> None:
        if B % self.P:
            raise ValueError(f"the batch ({B} sequences) must split evenly over the "
                             f"n_networks = {self.P} networks")

    def per_network(self, a: Tensor, w: Tensor) -> Tensor:
        """Row group p of ``a`` [B, ..., m] times ``w[p]`` [m, n]: [B, ..., n]."""
        B = a.shape[0]
        out = a.reshape(self.P, -1, a.shape[-1]) @ w  # [P, B/P · ..., n]
        return out.reshape(B, *a.shape[1:-1], w.shape[-1])

    def input_drive(self, x: Tensor) -> Tensor:
        """relu(x + σ_in ξ) W_in⁺ + b (noise in training mode): [B, ..., I] → [B, ..., d]."""
        self._check_batch(x.shape[0])
        if self.training and self.config.noise_in > 0:
            x = x + math.sqrt(2 / self.alpha) * self.config.noise_in * torch.randn_like(x)
        drive = self.per_network(torch.relu(x), torch.relu(self.w_in))
        return drive + self.b.repeat_interleave(x.shape[0] // self.P, 0).view(
            x.shape[0], *([1] * (x.dim() - 2)), self.d)

    def recur(self, drive: Tensor, w_rec: Tensor, h: Tensor, syn_x: Tensor,
              syn_u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step from the input drive [B, d]: the synapses, then the rates."""
        c = self.config
        if c.synapses == "none":
            pre = h
        else:
            syn_x, syn_u = synapse_step(syn_x, syn_u, h, self.U, self.alpha_x, self.alpha_u,
                                        c.dt / 1000)
            pre = syn_u * syn_x * h
        h = (1 - self.alpha) * h + self.alpha * (drive + self.per_network(pre, w_rec))
        if self.training and c.noise_rec > 0:
            h = h + math.sqrt(2 * self.alpha) * c.noise_rec * torch.randn_like(h)
        return torch.relu(h), syn_x, syn_u

    def rate_loss(self, h: Tensor) -> Tensor:
        """The rate cost ``rate_cost · mean(h²)`` on the rates ``h`` [B, T, d]."""
        return self.config.rate_cost * h.square().mean()
