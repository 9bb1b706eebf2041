"""fastweights: sequence models whose short-term memory lives in synapses or waves."""

__version__ = "0.1.0"
