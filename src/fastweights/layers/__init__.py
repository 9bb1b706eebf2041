"""Layers: the "programmer" (projections, gates) around one op or cell."""

from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer

__all__ = ["FastWeightConfig", "FastWeightLayer"]
