"""A stack of pre-norm blocks around a sequence mixer (a fast-weight layer or attention):

    h_0 = encoder(x)                                  (+ P[p] with learned positions)
    u   = h_{l-1} + Mixer(RMSNorm(h_{l-1}))           Mixer: FastWeightLayer or AttentionLayer
    h_l = u + MLP(RMSNorm(u))                         MLP: W_2 GELU(W_1 ·), width mlp_ratio·d
    y   = head(RMSNorm(h_L))

The state is the list of the mixers' states, one per layer. ``return_intermediates=True``
also returns ``StackIntermediates``: each mixer's internals (for a fast-weight layer q, k,
v, β, g and the trajectory S_t; for attention q, k, v and the attention weights) and the
residual stream after each block.

Presets (registry name → settings of ``FastWeightConfig``, equations in
``fastweights.layers.fast_weight``):

| name               | rule                 | φ / norm        | gate               | extras       |
|--------------------|----------------------|-----------------|--------------------|--------------|
| linear-transformer | sum_rule + attn norm | elu+1 / none    | –                  | no out norm  |
| deltanet           | delta_rule           | silu / l2       | –                  | β = σ(w_β·x) |
| gated-deltanet     | gated_delta_rule     | silu / l2       | scalar (Mamba2)    | output gate  |
| retnet             | gated_sum_rule       | identity / none | fixed 1 − 2^{−5−h} | output gate  |
| gla                | gated_sum_rule       | identity / none | per key, rank 16   | output gate  |
| mamba2-style       | gated_sum_rule       | identity / none | scalar (Mamba2)    | output gate  |
| deltaproduct       | delta_product_rule   | silu / l2       | –                  | n_h = 2      |

All presets but retnet and gla keep the short convolution (conv_size = 4), and all but
linear-transformer the per-head output RMSNorm. Simplifications: RetNet's xPos rotation
and the exact normalisers of GLA and RetNet are not reproduced (the per-head RMSNorm stands
for their group norms); the Mamba2-style preset keeps Mamba2's decay α_t = exp(−Δ_t·A) but
does not scale the input by Δ_t.
``transformer`` is the same stack with causal softmax attention and a KV cache; positions
are rotary (default), learned absolute (``max_len``) or none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from fastweights.layers.attention import AttentionConfig, AttentionLayer, KVCache
from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel

POSITIONS = ("rope", "learned", "none")


@dataclass
class FastWeightModelConfig(ModelConfig, FastWeightConfig):
    n_layers: int = 2
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")


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
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {POSITIONS}, got {self.positions!r}")
        if self.max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {self.max_len}")
        self.attention()

    def attention(self) -> AttentionConfig:
        return AttentionConfig(self.d_model, self.n_heads, rope=self.positions == "rope",
                               rope_base=self.rope_base)


@dataclass
class StackIntermediates:
    layers: list  # one mixer intermediates object per block
    h: Tensor  # [B, T, n_layers, d_model]: the residual stream after each block


class Block(nn.Module):
    def __init__(self, d_model: int, mlp_ratio: int, mixer: nn.Module):
        super().__init__()
        self.mix_norm, self.mlp_norm = nn.RMSNorm(d_model), nn.RMSNorm(d_model)
        self.mixer = mixer
        self.mlp = nn.Sequential(nn.Linear(d_model, mlp_ratio * d_model), nn.GELU(),
                                 nn.Linear(mlp_ratio * d_model, d_model))

    def forward(self, h: Tensor, state: Any, return_intermediates: bool = False) -> tuple:
        u, state, *inter = self.mixer(self.mix_norm(h), state, return_intermediates)
        h = h + u
        return h + self.mlp(self.mlp_norm(h)), state, *inter


class StackModel(SequenceModel):
    """embedding → blocks → norm → head; subclasses choose the mixer."""

    def __init__(self, config: FastWeightModelConfig | TransformerConfig):
        super().__init__(config, config.d_model)
        self.blocks = nn.ModuleList(Block(config.d_model, config.mlp_ratio, self.mixer())
                                    for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model)

    def mixer(self) -> nn.Module:
        raise NotImplementedError

    def core(self, h: Tensor, state: list | None, return_intermediates: bool = False) -> tuple:
        state = [None] * len(self.blocks) if state is None else state
        if len(state) != len(self.blocks):
            raise ValueError(f"state must be a list of {len(self.blocks)} layer states, "
                             f"got {len(state)}")
        new_state, layers, hs = [], [], []
        for block, s in zip(self.blocks, state, strict=True):
            h, s, *inter = block(h, s, return_intermediates)
            new_state.append(s)
            layers += inter
            hs.append(h)
        if not return_intermediates:
            return self.norm(h), new_state
        return self.norm(h), new_state, StackIntermediates(layers, torch.stack(hs, dim=2))


class FastWeightModel(StackModel):
    def mixer(self) -> FastWeightLayer:
        return FastWeightLayer(self.config)

    def state_size(self) -> int:
        return sum(b.mixer.state_size() for b in self.blocks)


class TransformerModel(StackModel):
    """Causal softmax-attention transformer; its state, the KV cache, grows with length."""

    #: ``state_size(seq_len)`` depends on the number of tokens seen
    state_grows = True

    def __init__(self, config: TransformerConfig):
        super().__init__(config)
        if config.positions == "learned":
            self.pos = nn.Embedding(config.max_len, config.d_model)

    def mixer(self) -> AttentionLayer:
        return AttentionLayer(self.config.attention())

    def state_size(self, seq_len: int = 1) -> int:
        """Floats in the KV cache per sequence after ``seq_len`` tokens; the default (1) is
        the per-token cost, 2 · n_layers · d_model."""
        return sum(b.mixer.state_size(seq_len) for b in self.blocks)

    def core(self, h: Tensor, state: list[KVCache] | None,
             return_intermediates: bool = False) -> tuple:
        if self.config.positions == "learned":
            past = 0 if state is None else state[0].k.shape[2]
            if past + h.shape[1] > self.config.max_len:
                raise ValueError(f"learned positions cover max_len = {self.config.max_len} "
                                 f"tokens, got {past} cached + {h.shape[1]} new")
            h = h + self.pos(torch.arange(past, past + h.shape[1], device=h.device))
        return super().core(h, state, return_intermediates)


def _fwp(paper: str, **preset) -> ModelSpec:
    return ModelSpec(FastWeightModel, FastWeightModelConfig, paper, preset)


SPECS = {
    "linear-transformer": _fwp(
        "Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (sum rule)",
        rule="sum_rule", feature_map="elu+1", qk_norm="none", normalize=True, out_norm=False),
    "deltanet": _fwp(
        "Schlag, Irie & Schmidhuber 2021; Yang et al. 2024 (delta rule)",
        rule="delta_rule", feature_map="silu", qk_norm="l2", beta="sigmoid"),
    "gated-deltanet": _fwp(
        "Yang, Kautz & Hatamizadeh 2025 (gated delta rule)",
        rule="gated_delta_rule", gate="scalar", feature_map="silu", qk_norm="l2",
        beta="sigmoid", output_gate=True),
    "retnet": _fwp(
        "Sun et al. 2023, RetNet (fixed per-head decay 1 - 2^(-5-h))",
        rule="gated_sum_rule", gate="fixed", feature_map="identity", qk_norm="none",
        output_gate=True, conv_size=0),
    "gla": _fwp(
        "Yang et al. 2024, Gated Linear Attention (per-key gate)",
        rule="gated_sum_rule", gate="per_key", feature_map="identity", qk_norm="none",
        output_gate=True, conv_size=0),
    "mamba2-style": _fwp(
        "Dao & Gu 2024, Mamba2/SSD (scalar data-dependent decay)",
        rule="gated_sum_rule", gate="scalar", feature_map="identity", qk_norm="none",
        output_gate=True),
    "deltaproduct": _fwp(
        "Siems et al. 2025, DeltaProduct (n_h delta steps per token)",
        rule="delta_product_rule", n_householder=2, feature_map="silu", qk_norm="l2",
        beta="sigmoid"),
    "transformer": ModelSpec(
        TransformerModel, TransformerConfig,
        "Vaswani et al. 2017 (causal softmax attention, KV cache; RoPE: Su et al. 2021)"),
}
