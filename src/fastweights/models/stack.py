"""A stack of pre-norm blocks around a sequence-mixing layer (here, a fast-weight layer):

    h_0 = encoder(x)
    u   = h_{l-1} + Mixer(RMSNorm(h_{l-1}))           Mixer: FastWeightLayer
    h_l = u + MLP(RMSNorm(u))                         MLP: W_2 GELU(W_1 ·), width mlp_ratio·d
    y   = head(RMSNorm(h_L))

The state is the list of the mixers' states, one per layer.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer, FastWeightState
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel


@dataclass
class FastWeightModelConfig(ModelConfig, FastWeightConfig):
    n_layers: int = 2
    mlp_ratio: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")


class Block(nn.Module):
    def __init__(self, config: FastWeightModelConfig):
        super().__init__()
        d = config.d_model
        self.mix_norm, self.mlp_norm = nn.RMSNorm(d), nn.RMSNorm(d)
        self.mixer = FastWeightLayer(config)
        self.mlp = nn.Sequential(nn.Linear(d, config.mlp_ratio * d), nn.GELU(),
                                 nn.Linear(config.mlp_ratio * d, d))

    def forward(self, h: Tensor, state: FastWeightState | None
                ) -> tuple[Tensor, FastWeightState]:
        u, state = self.mixer(self.mix_norm(h), state)
        h = h + u
        return h + self.mlp(self.mlp_norm(h)), state


class FastWeightModel(SequenceModel):
    def __init__(self, config: FastWeightModelConfig):
        super().__init__(config, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.d_model)

    def state_size(self) -> int:
        return sum(b.mixer.state_size() for b in self.blocks)

    def core(self, h: Tensor, state: list[FastWeightState] | None,
             return_intermediates: bool = False) -> tuple:
        state = [None] * len(self.blocks) if state is None else state
        if len(state) != len(self.blocks):
            raise ValueError(f"state must be a list of {len(self.blocks)} layer states, "
                             f"got {len(state)}")
        new_state = []
        for block, s in zip(self.blocks, state, strict=True):
            h, s = block(h, s)
            new_state.append(s)
        return self.norm(h), new_state


SPECS = {
    "linear-transformer": ModelSpec(
        FastWeightModel, FastWeightModelConfig,
        "Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (sum rule)",
        dict(rule="sum", feature_map="elu+1", qk_norm="none", normalize=True, out_norm=False)),
    "deltanet": ModelSpec(
        FastWeightModel, FastWeightModelConfig,
        "Schlag, Irie & Schmidhuber 2021; Yang et al. 2024 (delta rule)",
        dict(rule="delta", feature_map="silu", qk_norm="l2", beta="sigmoid")),
}
