"""fastweights: sequence models whose short-term memory lives in synapses or waves."""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "load_run":  # imported on first use: `import fastweights` stays light
        from fastweights.train.load import load_run

        return load_run
    raise AttributeError(f"module 'fastweights' has no attribute {name!r}")
