"""The fast-weight programmer layer: a slow net that programs a fast weight matrix per head.

One layer serves every FWP preset (``fastweights.models.stack``); ``rule`` picks the op.
For each head (d = head_dim, K = key dimension of φ, state S ∈ ℝ^{K×V}, V = d; n = 1
except for DeltaProduct, where n = n_householder):

    u_t = W_in x_t = [q̃_t; k̃_t,1…n; ṽ_t,1…n]     then, if conv_size = c ≥ 2,
          u_t ← SiLU(causal depthwise convolution of u over steps t−c+1 … t)
    q_t = norm(φ(q̃_t)),  k_t,j = norm(φ(k̃_t,j)),  v_t,j = ṽ_t,j
    β_t,j = b · σ(w_β,j · x_t + c_β,j)     b = 1 (beta="sigmoid") or 2 ("2sigmoid": negative
                                          eigenvalues, Grazzi et al. 2025); delta-type rules
    g_t = log α_t ≤ 0, the forgetting log-gate of the gated rules (``gate``):
        fixed    g_h = log(1 − 2^{−5−h}), h = 0 … H−1       RetNet (Sun et al. 2023)
        scalar   g_t = −exp(a) · softplus(w_g · x_t + c_g)  Mamba2's −Δ_t·A per head (Dao &
                 Gu 2024), as in Gated DeltaNet (Yang, Kautz & Hatamizadeh 2025); A = e^a
                 drawn from U[1, 16], softplus(c_g) from log-uniform [dt_min, dt_max]
                 (default [1e-3, 1e-1], Mamba2's and fla's dt_min / dt_max)
        per_key  g_t = logsigmoid(W_g2 W_g1 x_t + c_g) / 16 ∈ ℝ^K   GLA (Yang et al. 2024):
                 a rank-16 projection, temperature 16
    o_t, S_t = rule(q, k, v, [g], [β])        (``fastweights.ops``, read after write):
        sum_rule            S_t = S_{t−1} + k_t v_tᵀ;  with normalize=True the state is
                            [S | z], z_t = z_{t−1} + k_t, and o_t = S_tᵀq_t / (z_tᵀq_t + ε)
        gated_sum_rule      S_t = diag(α_t) S_{t−1} + k_t v_tᵀ       (α_t scalar or per key)
        delta_rule          S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ
        gated_delta_rule    S_t = α_t (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ
        delta_product_rule  S_t = S_t,n with S_t,j = (I − β_t,j k_t,j k_t,jᵀ) S_t,j−1
                            + β_t,j k_t,j v_t,jᵀ, S_t,0 = S_{t−1}   (Siems et al. 2025)
        o_t = K^{−1/2} S_tᵀ q_t  (the ops' default scale) unless normalised
    r_t = RMSNorm(o_t) per head (out_norm=True) or o_t
    y_t = W_o r_t,   or   y_t = W_o (r_t ⊙ SiLU(W_r x_t))   with output_gate=True

φ is a feature map and ``norm`` a key/query normalisation (``fastweights.featuremaps``).
FAVOR+ draws its projection Ω ∈ ℝ^{m×d} (shared by the heads, a buffer saved with the
model) at construction; ``favor_redraw=True`` draws a fresh Ω on every forward call in
training mode (Performer's redraw), in which case streaming equals the whole sequence only
in eval mode.

The layer state is ``{"S": [B, H, K, V], "conv": [B, C, c−1]}`` (``conv`` only when
conv_size ≥ 2) with C = (1 + 2n)·d_model: the fast weights and the last c−1 projected inputs
the convolution still needs. With ``mask`` [B, T] a False step is made neutral: its keys are
0 and its log-gates 0 (no write, no decay, for every rule), and the convolution sees only the
real steps of each row (they are gathered to the front, convolved after the cached inputs,
and scattered back), so the row's state and real outputs are those without the masked steps.
``return_intermediates=True`` also returns ``FastWeightIntermediates``: q, k, v, β, g and the
fast-weight trajectory S_t for every t, recomputed step by step through the op's recurrent
form (only when asked; the output itself comes from the usual path).
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fastweights import featuremaps, ops
from fastweights.layers.config import check_types
from fastweights.layers.conv import ShortConv
from fastweights.layers.norm import RMSNorm

RULES = ("sum_rule", "gated_sum_rule", "delta_rule", "gated_delta_rule", "delta_product_rule")
ALIASES = {r.removesuffix("_rule"): r for r in RULES}  # "sum" -> "sum_rule", ...
DELTA_RULES = ("delta_rule", "gated_delta_rule", "delta_product_rule")
GATED_RULES = {"gated_sum_rule": ("fixed", "scalar", "per_key"),
               "gated_delta_rule": ("fixed", "scalar", "per_key")}
GATES = ("auto", "none", "fixed", "scalar", "per_key")
BETAS = {"sigmoid": 1.0, "2sigmoid": 2.0}
GLA_RANK, GLA_TEMPERATURE = 16, 16.0


@dataclass
class FastWeightConfig:
    d_model: int = 64
    n_heads: int = 4
    rule: str = "delta_rule"
    feature_map: str = "silu"
    dpfp_nu: int = 1
    favor_features: int = 32
    favor_redraw: bool = False
    qk_norm: str = "l2"
    normalize: bool = False
    beta: str = "sigmoid"
    gate: str = "auto"
    dt_min: float = 1e-3  # the scalar gate's initial Δ = softplus(c_g), log-uniform in
    dt_max: float = 1e-1  # [dt_min, dt_max]
    n_householder: int = 1
    out_norm: bool = True
    output_gate: bool = False
    conv_size: int = 4
    form: str = "auto"
    chunk_size: int = 64

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")
        self.rule = ALIASES.get(self.rule, self.rule)
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES} (or {tuple(ALIASES)}), "
                             f"got {self.rule!r}")
        if self.feature_map not in featuremaps.FEATURE_MAPS:
            raise ValueError(f"feature_map must be one of {sorted(featuremaps.FEATURE_MAPS)}, "
                             f"got {self.feature_map!r}")
        if self.qk_norm not in featuremaps.NORMS:
            raise ValueError(f"qk_norm must be one of {sorted(featuremaps.NORMS)}, "
                             f"got {self.qk_norm!r}")
        if self.beta not in BETAS:
            raise ValueError(f"beta must be one of {sorted(BETAS)}, got {self.beta!r}")
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {self.gate!r}")
        allowed = GATED_RULES.get(self.rule, ("none",))
        if self.gate == "auto":
            self.gate = "scalar" if self.rule in GATED_RULES else "none"
        if self.gate not in allowed:
            raise ValueError(f"gate {self.gate!r} does not fit rule {self.rule!r}; "
                             f"allowed: {allowed}")
        if not 0 < self.dt_min <= self.dt_max:
            raise ValueError(f"need 0 < dt_min <= dt_max, got dt_min={self.dt_min}, "
                             f"dt_max={self.dt_max}")
        if self.normalize and self.rule != "sum_rule":
            raise ValueError("normalize=True (attention normalisation) needs rule='sum_rule'")
        if self.conv_size < 0 or self.conv_size == 1:
            raise ValueError(f"conv_size must be 0 (off) or >= 2, got {self.conv_size}")
        if self.dpfp_nu < 1:
            raise ValueError(f"dpfp_nu must be >= 1, got {self.dpfp_nu}")
        if self.favor_features < 1:
            raise ValueError(f"favor_features must be >= 1, got {self.favor_features}")
        if self.n_householder < 1 or (self.n_householder > 1
                                      and self.rule != "delta_product_rule"):
            raise ValueError(f"n_householder must be >= 1, and > 1 only with "
                             f"rule='delta_product_rule'; got {self.n_householder}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def key_dim(self) -> int:
        return featuremaps.feature_dim(self.feature_map, self.head_dim, self.dpfp_nu,
                                       self.favor_features)

    @property
    def n_steps(self) -> int:
        """Delta steps per token: n_householder for DeltaProduct, else 1."""
        return self.n_householder if self.rule == "delta_product_rule" else 1

    @property
    def proj_dim(self) -> int:
        """Width of the q/k/v projection (and of the short convolution)."""
        return (1 + 2 * self.n_steps) * self.d_model

    @property
    def state_shape(self) -> tuple[int, int, int]:
        """[H, K, V] of the fast weight state (V + 1 with attention normalisation)."""
        return self.n_heads, self.key_dim, self.head_dim + int(self.normalize)


@dataclass
class FastWeightIntermediates:
    """Per-step internals of one layer (n = n_householder axis only for DeltaProduct)."""

    q: Tensor  # [B, T, H, K]
    k: Tensor  # [B, T, H, K] or [B, T, n, H, K]
    v: Tensor  # [B, T, H, V] or [B, T, n, H, V]
    beta: Tensor | None  # [B, T, H] or [B, T, n, H]; None for the sum rules
    g: Tensor | None  # [B, T, H] or [B, T, H, K] log-gates; None for ungated rules
    S: Tensor  # [B, T, H, K, V]: the fast weights after step t (with z as column V if normalised)


class FastWeightLayer(nn.Module):
    def __init__(self, config: FastWeightConfig):
        super().__init__()
        self.config = c = config
        H, n = c.n_heads, c.n_steps
        self.op = getattr(ops, c.rule)
        self.op_args = set(inspect.signature(self.op).parameters)
        self.qkv = nn.Linear(c.d_model, c.proj_dim, bias=False)
        self.conv = ShortConv(c.proj_dim, c.conv_size) if c.conv_size else None
        if c.feature_map == "favor+":
            self.register_buffer("omega", featuremaps.draw_favor(c.favor_features, c.head_dim))
        self.beta_proj = nn.Linear(c.d_model, n * H) if c.rule in DELTA_RULES else None
        if c.gate == "scalar":
            self.gate_proj = nn.Linear(c.d_model, H)
            self.a_log = nn.Parameter(torch.empty(H).uniform_(1, 16).log())
            dt = torch.empty(H).uniform_(math.log(c.dt_min), math.log(c.dt_max)).exp()
            with torch.no_grad():
                self.gate_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))
        elif c.gate == "per_key":
            self.gate_proj = nn.Sequential(nn.Linear(c.d_model, GLA_RANK, bias=False),
                                           nn.Linear(GLA_RANK, H * c.key_dim))
        self.out_norm = RMSNorm(c.head_dim) if c.out_norm else None
        self.out_gate = nn.Linear(c.d_model, c.d_model, bias=False) if c.output_gate else None
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def state_size(self) -> int:
        H, K, V = self.config.state_shape
        return H * K * V + self.config.proj_dim * max(self.config.conv_size - 1, 0)

    def init_state(self, batch: int, device=None, dtype=None) -> dict[str, Tensor]:
        c, kw = self.config, dict(device=device, dtype=dtype)
        state = {"S": torch.zeros(batch, *c.state_shape, **kw)}
        if self.conv is not None:
            state["conv"] = self.conv.init_state(batch, device, dtype)
        return state

    def split_features(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """(norm(φ(q, k)) [B, T, 1 + n, H, K], v [B, T, n·d_model]) from the projected (and
        convolved) u [B, T, (1 + 2n)·d_model]. One feature-map call for the queries and keys
        (a third cheaper than two on these strided views); φ and the norm act on each head's
        vector alone. The short convolution recomputes it in its backward (``ShortConv``'s
        ``post``) instead of keeping u and φ's output."""
        c, n = self.config, self.config.n_steps
        qk, v = u.split([(1 + n) * c.d_model, n * c.d_model], dim=-1)
        qk = self.features(rearrange(qk, "b t (m h d) -> b t m h d", m=1 + n, h=c.n_heads))
        return qk, v

    def features(self, x: Tensor) -> Tensor:
        """norm(φ(x)) over the head dimension."""
        c = self.config
        x = featuremaps.apply_feature_map(c.feature_map, x, c.dpfp_nu,
                                          getattr(self, "omega", None))
        return featuremaps.apply_norm(c.qk_norm, x)

    def log_gate(self, x: Tensor) -> Tensor | None:
        """g = log α ≤ 0 from x [B, T, d_model]: [B, T, H] or [B, T, H, K] (per_key)."""
        c = self.config
        if c.gate == "fixed":
            h = torch.arange(c.n_heads, dtype=x.dtype, device=x.device)
            return torch.log1p(-(2.0 ** (-5.0 - h))).expand(*x.shape[:2], c.n_heads)
        if c.gate == "scalar":
            return -self.a_log.exp() * F.softplus(self.gate_proj(x))
        if c.gate == "per_key":
            g = F.logsigmoid(self.gate_proj(x)) / GLA_TEMPERATURE
            return rearrange(g, "b t (h k) -> b t h k", h=c.n_heads)
        return None

    def rule(self, q: Tensor, k: Tensor, v: Tensor, g: Tensor | None, beta: Tensor | None,
             S: Tensor | None, form: str) -> tuple[Tensor, Tensor]:
        """Run the configured op from state S; returns (o [B, T, H, V], S_T). The op gets
        the per-step arguments its signature names (g, beta) and sum_rule's ``normalize``."""
        c = self.config
        extra = {"g": g, "beta": beta} | ({"normalize": c.normalize}
                                          if c.rule == "sum_rule" else {})
        return self.op(q, k, v, **{n: a for n, a in extra.items() if n in self.op_args},
                       initial_state=S, output_final_state=True, form=form,
                       chunk_size=c.chunk_size)

    def trajectory(self, q: Tensor, k: Tensor, v: Tensor, g: Tensor | None,
                   beta: Tensor | None, S: Tensor | None) -> Tensor:
        """S_t after every step t, [B, T, H, K, V], by the op's recurrent form one step at
        a time (for analysis; T op calls)."""
        states = []
        for t in range(q.shape[1]):
            step = slice(t, t + 1)
            _, S = self.rule(q[:, step], k[:, step], v[:, step],
                             None if g is None else g[:, step],
                             None if beta is None else beta[:, step], S, form="recurrent")
            states.append(S)
        return torch.stack(states, dim=1)

    def forward(self, x: Tensor, state: dict[str, Tensor] | None = None, *,
                mask: Tensor | None = None, return_intermediates: bool = False) -> tuple:
        """x: [B, T, d_model]; state: {"S", "conv"} or None; mask [B, T] bool or None ->
        (y [B, T, d_model], state) or, with ``return_intermediates``, (y, state,
        FastWeightIntermediates)."""
        c = self.config
        n, product = c.n_steps, c.rule == "delta_product_rule"
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        S0, new_state = state["S"], {}
        if c.feature_map == "favor+" and c.favor_redraw and self.training:
            self.omega.copy_(featuremaps.draw_favor(c.favor_features, c.head_dim,
                                                    device=self.omega.device))
        u = self.qkv(x)
        if self.conv is None:
            qk, v = self.split_features(u)
        else:
            (qk, v), new_state["conv"] = self.conv(u, state["conv"], mask,
                                                   post=self.split_features)
        q, k = qk[:, :, 0], qk[:, :, 1:]
        v = rearrange(v, "b t (n h d) -> b t n h d", n=n, h=c.n_heads)
        beta = None
        if self.beta_proj is not None:
            beta = BETAS[c.beta] * torch.sigmoid(self.beta_proj(x))
            beta = rearrange(beta, "b t (n h) -> b t n h", n=n)  # [B, T, n, H]
        if not product:
            k, v = k[:, :, 0], v[:, :, 0]
            beta = None if beta is None else beta[:, :, 0]
        g = self.log_gate(x)
        if mask is not None:
            # a masked step is neutral for every rule: k = 0 writes nothing, g = 0 keeps S
            m = mask.to(k.dtype)
            k = k * m.view(*m.shape, *[1] * (k.dim() - 2))
            g = None if g is None else g * m.view(*m.shape, *[1] * (g.dim() - 2))
        o, S = self.rule(q, k, v, g, beta, S0, form=c.form)
        if self.out_norm is not None:
            o = self.out_norm(o)
        o = rearrange(o, "b t h d -> b t (h d)")
        if self.out_gate is not None:
            o = o * F.silu(self.out_gate(x))
        y, state = self.out(o), {"S": S} | new_state
        if not return_intermediates:
            return y, state
        return y, state, FastWeightIntermediates(q, k, v, beta, g,
                                                 self.trajectory(q, k, v, g, beta, S0))
