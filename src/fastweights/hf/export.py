"""A trained run folder → a ``save_pretrained`` folder (``fastweights export RUN OUT_DIR``).

The run's model config (with the task's vocabulary size) becomes a ``FastWeightsConfig``,
its checkpoint's weights the wrapper's ``model.*`` tensors; the folder then loads with
``AutoModelForCausalLM.from_pretrained(OUT_DIR)`` after ``import fastweights.hf``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path


def export_run(run_dir: str | Path, out_dir: str | Path, checkpoint: str = "best") -> Path:
    """Write the run's model to ``out_dir`` (model.safetensors + config.json)."""
    from fastweights import load_run
    from fastweights.hf.config import FastWeightsConfig
    from fastweights.hf.model import FastWeightsForCausalLM

    run = load_run(run_dir, checkpoint)
    model, c = run.model, run.model.config
    if not c.tokens or c.input_size != c.output_size:
        raise ValueError(f"{run_dir}: a causal LM reads and predicts the same tokens; this "
                         f"model maps {c.input_size} {'tokens' if c.tokens else 'features'} "
                         f"to {c.output_size} outputs (task {run.task.name})")
    config = FastWeightsConfig(model=run.experiment.model.name, vocab_size=c.input_size,
                               model_config=dataclasses.asdict(c))
    lm = FastWeightsForCausalLM(config)
    lm.model.load_state_dict(model.state_dict())
    out = Path(out_dir)
    lm.save_pretrained(out)
    return out
