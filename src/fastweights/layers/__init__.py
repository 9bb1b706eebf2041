"""Layers: the "programmer" (projections, gates) around one op or cell."""

from fastweights.layers.attention import AttentionConfig, AttentionLayer
from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer

__all__ = ["AttentionConfig", "AttentionLayer", "FastWeightConfig", "FastWeightLayer"]
