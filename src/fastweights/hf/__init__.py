"""Hugging Face ``transformers`` integration (the optional extra ``fastweights[hf]``).

Importing this package registers the ``"fastweights"`` model type with ``AutoConfig`` and
``AutoModelForCausalLM``, so every token-input registry model is a causal LM there:

>>> import torch
>>> from transformers import AutoModelForCausalLM
>>> from fastweights.hf import FastWeightsConfig
>>> config = FastWeightsConfig(model="deltanet", vocab_size=32,
...                            model_config={"d_model": 16, "n_layers": 1})
>>> lm = AutoModelForCausalLM.from_config(config)
>>> ids = torch.randint(0, 32, (2, 10))
>>> lm(ids, labels=ids).loss.backward()
>>> lm.generate(ids, max_new_tokens=5, do_sample=False).shape
torch.Size([2, 15])

``lm.save_pretrained(folder)`` writes ``model.safetensors`` and ``config.json``;
``AutoModelForCausalLM.from_pretrained(folder)`` (after ``import fastweights.hf``) loads it.

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
