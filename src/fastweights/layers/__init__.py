"""Layers: mixers (the "programmer": projections, short conv, gates around one op) and
recurrent cells, on one contract (``fastweights.layers.cell``)."""

from fastweights.layers.attention import AttentionConfig, AttentionLayer
from fastweights.layers.cell import CellLayer, Mixer, MixerCell, RecurrentCell
from fastweights.layers.conv import ShortConv
from fastweights.layers.fast_weight import FastWeightConfig, FastWeightLayer

__all__ = ["AttentionConfig", "AttentionLayer", "CellLayer", "FastWeightConfig",
           "FastWeightLayer", "Mixer", "MixerCell", "RecurrentCell", "ShortConv"]
