"""Sequence models by name: ``fastweights.models.build("deltanet", d_model=64)``.

Each registry entry is a model class, its flat config dataclass, the preset values that
define the name, and the paper it comes from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from fastweights.models.base import ModelConfig, SequenceModel
from fastweights.models.lstm import LSTMConfig, LSTMModel
from fastweights.models.stack import FastWeightModel, FastWeightModelConfig


@dataclass(frozen=True)
class ModelSpec:
    cls: type[SequenceModel]
    config: type[ModelConfig]
    paper: str
    preset: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "linear-transformer": ModelSpec(
        FastWeightModel, FastWeightModelConfig,
        "Katharopoulos et al. 2020; Schlag, Irie & Schmidhuber 2021 (sum rule)",
        dict(rule="sum", feature_map="elu+1", qk_norm="none", normalize=True, out_norm=False)),
    "deltanet": ModelSpec(
        FastWeightModel, FastWeightModelConfig,
        "Schlag, Irie & Schmidhuber 2021; Yang et al. 2024 (delta rule)",
        dict(rule="delta", feature_map="silu", qk_norm="l2", beta="sigmoid")),
    "lstm": ModelSpec(LSTMModel, LSTMConfig, "Hochreiter & Schmidhuber 1997"),
}


def make_config(name: str, **overrides) -> ModelConfig:
    """The config of model ``name``: its preset, then ``overrides``; unknown keys raise."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    spec = MODELS[name]
    fields = {f.name for f in dataclasses.fields(spec.config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ValueError(f"model {name!r} has no config field(s) {unknown}; "
                         f"fields: {sorted(fields)}")
    return spec.config(**(spec.preset | overrides))


def build(name: str, **overrides) -> SequenceModel:
    """Build model ``name`` from its preset and keyword overrides."""
    config = make_config(name, **overrides)
    return MODELS[name].cls(config)


__all__ = ["MODELS", "ModelConfig", "ModelSpec", "SequenceModel", "build", "make_config"]
