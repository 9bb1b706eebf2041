"""Hugging Face ``transformers`` integration (the optional extra ``fastweights[hf]``).

Importing this package registers the ``"fastweights"`` model type with ``AutoConfig`` and
``AutoModelForCausalLM``, so every token-input registry model is a causal LM there:

    import fastweights.hf  # noqa: F401  (registers the Auto classes)
    from transformers import AutoModelForCausalLM
    config = FastWeightsConfig(model="deltanet", vocab_size=64, model_config={"d_model": 32})
    lm = AutoModelForCausalLM.from_config(config)
    lm(input_ids, labels=input_ids).loss.backward()
    lm.generate(input_ids, max_new_tokens=20, do_sample=True, temperature=0.8)
    lm.save_pretrained("out")   # model.safetensors + config.json

- ``FastWeightsConfig`` (``config.py``): the registry name and its flat config.
- ``FastWeightsForCausalLM`` (``model.py``): the wrapper (loss with ``labels``,
  ``attention_mask`` for left-padded batches, ``generate``).
- ``FastWeightsCache`` (``cache.py``): the recurrent state between ``generate`` steps.
- ``export_run`` (``export.py``): a trained run folder → a ``save_pretrained`` folder.
"""

from __future__ import annotations

try:
    import transformers
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("fastweights.hf needs Hugging Face transformers 5.x: "
                      "pip install 'fastweights[hf]'") from e

from fastweights.hf.cache import FastWeightsCache
from fastweights.hf.config import FastWeightsConfig
from fastweights.hf.export import export_run
from fastweights.hf.model import FastWeightsForCausalLM

transformers.AutoConfig.register(FastWeightsConfig.model_type, FastWeightsConfig, exist_ok=True)
transformers.AutoModelForCausalLM.register(FastWeightsConfig, FastWeightsForCausalLM,
                                           exist_ok=True)

__all__ = ["FastWeightsCache", "FastWeightsConfig", "FastWeightsForCausalLM", "export_run"]
