"""Sequence models by name: ``fastweights.models.build("deltanet", d_model=64)``.

Each model family's module declares ``SPECS``: registry name → ``ModelSpec`` (model class,
flat config dataclass, paper, the preset values that define the name, and the name's mixer as
a stack layer). Hybrids are a name too: ``build("stack", layers=["deltanet", "transformer",
"stpn"])``. Every model keeps the contract of ``fastweights.models.base``; its state is a
``fastweights.models.state.ModelState``.
"""

from __future__ import annotations

import dataclasses

from fastweights.models import cell, lstm, next_wave, stack, stsp
from fastweights.models.base import ModelConfig, ModelSpec, SequenceModel
from fastweights.models.state import ModelState

MODELS: dict[str, ModelSpec] = {**stack.SPECS, **next_wave.SPECS, **lstm.SPECS, **cell.SPECS,
                                **stsp.SPECS}


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


__all__ = ["MODELS", "ModelConfig", "ModelSpec", "ModelState", "SequenceModel", "build",
           "make_config"]
