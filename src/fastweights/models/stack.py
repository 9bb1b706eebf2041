"""A stack of pre-norm blocks around sequence mixers (fast-weight layers, attention, cells):

    h_0 = encoder(x)                                  (+ P[p] with learned positions)
    u   = h_{l-1} + Mixer_l(RMSNorm(h_{l-1}))         Mixer_l: any layer (``layers.cell``)
    h_l = u + MLP(RMSNorm(u))                         MLP: W_2 GELU(W_1 ·), width mlp_ratio·d
    y   = head(RMSNorm(h_L))

The state holds each mixer's tensors as ``"layers.{l}.{name}"`` (e.g. ``layers.0.S``,
``layers.0.conv``, ``layers.1.k``). ``return_intermediates=True`` also returns
``StackIntermediates``: each mixer's internals (for a fast-weight layer q, k, v, β, g and the
trajectory S_t; for attention q, k, v and the attention weights; a cell's own) and the
residual stream after each block.

Hybrids are configuration: ``build("stack", layers=["deltanet", "transformer", "stpn"])``
stacks, per entry, the mixer that registry name is made of (``ModelSpec.layer``: its FWP
layer, its attention, or its cell as a ``CellLayer``), each at the stack's d_model (and
n_heads for the mixers with heads; a cell uses its own defaults otherwise).

Presets (registry name → settings of ``FastWeightConfig``, equations in
``fastweights.layers.fast_weight``):

| name               | rule                 | φ / norm        | gate               | extras       |
|--------------------|----------------------|-----------------|--------------------|--------------|
| linear-transformer | sum_rule + attn norm | elu+1 / none    | –                  | no out norm  |
| deltanet           | delta_rule           | conv SiLU / l2  | –                  | β = σ(w_β·x) |
| gated-deltanet     | gated_delta_rule     | conv SiLU / l2  | scalar (Mamba2)    | output gate  |
| retnet             | gated_sum_rule       | identity / none | fixed 1 − 2^{−5−h} | output gate  |
| gla                | gated_sum_rule       | identity / none | per key, rank 16   | output gate  |
| mamba2-style       | gated_sum_rule       | identity / none | scalar (Mamba2)    | output gate  |
| deltaproduct       | delta_product_rule   | conv SiLU / l2  | –                  | n_h = 2      |

All presets keep the short convolution (conv_size = 4), and all but linear-transformer the
per-head output RMSNorm. The papers' RetNet and GLA layers have no short convolution (fla
offers it as an option, ``use_short_conv``); RetNet rotates q and k by their positions
(xPos), which is not reproduced here, and without either a layer has no local positional
signal: on MQAR retnet and gla then stay near 0.15 accuracy (``conv_size=0`` restores that
layer; docs/results/recall-vs-state.md, "The gated models' recall gap"). DeltaNet, Gated
DeltaNet and DeltaProduct take φ = identity, as fla's layers do: the SiLU of the short
convolution is their φ, q = l2(SiLU(conv(W_q x))). With ``conv_size=0`` pass
``feature_map="silu"`` for fla's layer without a convolution (which also passes v through
SiLU; here v stays linear). Up to commit b99d16c these presets applied φ = SiLU once more
after the convolution's SiLU (variant ``two-silus``); on MQAR that second SiLU cost Gated
DeltaNet a third of its median accuracy (docs/results/recall-vs-state.md); every report that
uses these presets was rerun with one SiLU. fla's Gated DeltaNet widens
the values 2× (expand_v = 2); here V = K = head_dim for every preset, so DeltaNet and Gated
DeltaNet hold equal state. Simplifications:
the exact normalisers of GLA and RetNet are not reproduced (the per-head RMSNorm stands for
their group norms); the Mamba2-style preset keeps Mamba2's decay α_t = exp(−Δ_t·A) but does
not scale the input by Δ_t. The next-wave presets (kda, mlstm, rwkv7, titans, oja, mesanet)
are in ``fastweights.models.next_wave``.
``transformer`` is the same stack with causal softmax attention and a KV cache; positions
are rotary (default), learned absolute (``max_len``) or none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from fastweights.layers.attention import AttentionConfig, AttentionLayer
from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer
from fastweights.layers.norm import RMSNorm
from fastweights.models.base import (
    ModelConfig,
    ModelSpec,
    SequenceModel,
    make_encoder,
    prefixed,
    unprefixed,
)

POSITIONS = ("rope", "learned", "none")


def _check_stack(config) -> None:
    if config.n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {config.n_layers}")
    if config.mlp_ratio < 1:
        raise ValueError(f"mlp_ratio must be >= 1, got {config.mlp_ratio}")


@dataclass
class FastWeightModelConfig(ModelConfig, FastWeightConfig):
    n_layers: int = 2
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_stack(self)


@dataclass
class TransformerConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    mlp_ratio: int = 2
    positions: str = "rope"
    rope_base: float = 10000.0
    max_len: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_stack(self)
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        self.attention()

    def attention(self) -> AttentionConfig:
        return AttentionConfig(self.d_model, self.n_heads, rope=self.positions == "rope",
                               rope_base=self.rope_base)


@dataclass
class HybridConfig(ModelConfig):
    d_model: int = 32
    n_heads: int = 4
    layers: list[str] = field(default_factory=lambda: ["deltanet", "transformer", "stpn"])
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.layers:
            raise ValueError("layers must name at least one layer")
        if self.mlp_ratio < 1:
            raise ValueError(f"mlp_ratio must be >= 1, got {self.mlp_ratio}")
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")
        from fastweights.models import MODELS

        bad = [n for n in self.layers if n not in MODELS or MODELS[n].layer is None]
        if bad:
            ok = sorted(n for n, s in MODELS.items() if s.layer is not None)
            raise ValueError(f"layers {bad} are not stack layers; available: {ok}")


@dataclass
class StackIntermediates:
    layers: list  # one mixer intermediates object per block
    h: Tensor  # [B, T, n_layers, d_model]: the residual stream after each block


class Block(nn.Module):
    def __init__(self, d_model: int, mlp_ratio: int, mixer: nn.Module):
        super().__init__()
        self.mix_norm, self.mlp_norm = RMSNorm(d_model), RMSNorm(d_model)
        self.mixer = mixer
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, h: Tensor, state: dict, mask: Tensor | None,
                return_intermediates: bool = False) -> tuple:
        u, state, *inter = self.mixer(self.mix_norm(h), state, mask=mask,
                                      return_intermediates=return_intermediates)
        h = h + u
        return h + self.mlp(self.mlp_norm(h)), state, *inter


class StackModel(SequenceModel):
    """embedding → blocks → norm → head; ``mixer(i)`` gives block i's mixer."""

    def __init__(self, config: ModelConfig):
        super().__init__(config, make_encoder(config, config.d_model),
                         nn.Linear(config.d_model, config.output_size))
        # each block's mixer is drawn before its MLP (the seeds' models depend on the order)
        self.blocks = nn.ModuleList(Block(config.d_model, config.mlp_ratio, self.mixer(i))
                                    for i in range(self.n_blocks()))
        self.norm = RMSNorm(config.d_model)
        self.growing = tuple(f"layers.{i}.{n}" for i, b in enumerate(self.blocks)
                             for n in getattr(b.mixer, "growing", ()))
        self.state_grows = bool(self.growing)

    def n_blocks(self) -> int:
        return self.config.n_layers

    def mixer(self, i: int) -> nn.Module:
        """The mixer of block ``i``."""
        raise NotImplementedError

    def state_size(self, seq_len: int = 1) -> int:
        """Floats carried per sequence; a KV cache counts ``seq_len`` tokens (default: the
        per-token cost)."""
        return sum(b.mixer.state_size(seq_len) if getattr(b.mixer, "growing", ())
                   else b.mixer.state_size() for b in self.blocks)

    def init_core_state(self, batch: int, device, dtype) -> dict[str, Tensor]:
        return {k: t for i, b in enumerate(self.blocks)
                for k, t in prefixed(f"layers.{i}.", b.mixer.init_state(batch, device,
                                                                        dtype)).items()}

    def initial_values(self) -> dict[str, Tensor]:
        return {k: t for i, b in enumerate(self.blocks)
                for k, t in prefixed(f"layers.{i}.", getattr(b.mixer, "initial_values",
                                                             dict)()).items()}

    def core(self, h: Tensor, state: dict[str, Tensor], mask: Tensor | None,
             return_intermediates: bool = False) -> tuple:
        new_state, layers, hs = {}, [], []
        for i, block in enumerate(self.blocks):
            h, s, *inter = block(h, unprefixed(f"layers.{i}.", state), mask,
                                 return_intermediates)
            new_state |= prefixed(f"layers.{i}.", s)
            layers += inter
            hs.append(h)
        if not return_intermediates:
            return self.norm(h), new_state
        return self.norm(h), new_state, StackIntermediates(layers, torch.stack(hs, dim=2))


class FastWeightModel(StackModel):
    def mixer(self, i: int) -> FastWeightLayer:
        return FastWeightLayer(self.config)


class TransformerModel(StackModel):
    """Causal softmax-attention transformer; its state, the KV cache, grows with length."""

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        if config.positions == "learned":
            self.pos = nn.Embedding(config.max_len, config.d_model)

    def mixer(self, i: int) -> AttentionLayer:
        return AttentionLayer(self.config.attention())

    def core(self, h: Tensor, state: dict[str, Tensor], mask: Tensor | None,
             return_intermediates: bool = False) -> tuple:
        if self.config.positions == "learned":
            real = (torch.ones(h.shape[:2], dtype=torch.bool, device=h.device)
                    if mask is None else mask)
            seen = state["layers.0.valid"].sum(1, keepdim=True)  # [B, 1]
            positions = seen + real.cumsum(1) - real.long()  # [B, T]
            last = int((seen[:, 0] + real.sum(1)).max()) if h.shape[0] else 0
            if last > self.config.max_len:
                raise ValueError(f"learned positions cover max_len = {self.config.max_len} "
                                 f"tokens, got {last} (cached + new)")
            h = h + self.pos(positions.clamp(max=self.config.max_len - 1))
        return super().core(h, state, mask, return_intermediates)


class HybridModel(StackModel):
    """A stack whose blocks' mixers are named by ``config.layers``."""

    def n_blocks(self) -> int:
        return len(self.config.layers)

    def mixer(self, i: int) -> nn.Module:
        from fastweights.models import MODELS

        c = self.config
        return MODELS[c.layers[i]].layer(c.d_model, c.n_heads)


def _fwp_layer(preset: dict):
    def layer(d_model: int, n_heads: int) -> FastWeightLayer:
        return FastWeightLayer(FastWeightConfig(d_model=d_model, n_heads=n_heads, **preset))
    return layer


def _fwp(paper: str, **preset) -> ModelSpec:
    return ModelSpec(FastWeightModel, FastWeightModelConfig, paper, preset, _fwp_layer(preset))


def _attention_layer(d_model: int, n_heads: int) -> AttentionLayer:
    return AttentionLayer(AttentionConfig(d_model, n_heads))


SPECS = {
    "linear-transformer": _fwp(
        "Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (sum rule)",
        rule="sum_rule", feature_map="elu+1", qk_norm="none", normalize=True, out_norm=False),
    "deltanet": _fwp(
        "Schlag, Irie & Schmidhuber 2021; Yang et al. 2024 (delta rule)",
        rule="delta_rule", feature_map="identity", qk_norm="l2", beta="sigmoid"),
    "gated-deltanet": _fwp(
        "Yang, Kautz & Hatamizadeh 2025 (gated delta rule)",
        rule="gated_delta_rule", gate="scalar", feature_map="identity", qk_norm="l2",
        beta="sigmoid", output_gate=True),
    "retnet": _fwp(
        "Sun et al. 2023, RetNet (fixed per-head decay 1 - 2^(-5-h))",
        rule="gated_sum_rule", gate="fixed", feature_map="identity", qk_norm="none",
        output_gate=True),
    "gla": _fwp(
        "Yang et al. 2024, Gated Linear Attention (per-key gate)",
        rule="gated_sum_rule", gate="per_key", feature_map="identity", qk_norm="none",
        output_gate=True),
    "mamba2-style": _fwp(
        "Dao & Gu 2024, Mamba2/SSD (scalar data-dependent decay)",
        rule="gated_sum_rule", gate="scalar", feature_map="identity", qk_norm="none",
        output_gate=True),
    "deltaproduct": _fwp(
        "Siems et al. 2025, DeltaProduct (n_h delta steps per token)",
        rule="delta_product_rule", n_householder=2, feature_map="identity", qk_norm="l2",
        beta="sigmoid"),
    "transformer": ModelSpec(
        TransformerModel, TransformerConfig,
        "Vaswani et al. 2017 (causal softmax attention, KV cache; RoPE: Su et al. 2021)",
        layer=_attention_layer),
    "stack": ModelSpec(HybridModel, HybridConfig,
                       "a hybrid: pre-norm blocks whose mixers are registry names"),
}
