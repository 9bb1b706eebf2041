"""``FastWeightsConfig``: a ``transformers`` config that names a registry model.

It carries two things: ``model``, the registry name (``"deltanet"``, ``"lstm"``, …), and
``model_config``, that model's flat config as a dict (``fastweights models`` lists the
fields). ``vocab_size`` sets the model's ``input_size`` and ``output_size``; after
construction ``model_config`` holds the complete resolved config, so ``config.json`` alone
rebuilds the model. Only token-input models can be language models.

>>> c = FastWeightsConfig(model="deltanet", vocab_size=12, model_config={"d_model": 16})
>>> c.model_config["d_model"], c.model_config["output_size"], c.model_config["rule"]
(16, 12, 'delta_rule')
"""

from __future__ import annotations

import dataclasses

from transformers import PretrainedConfig

from fastweights import models


class FastWeightsConfig(PretrainedConfig):
    model_type = "fastweights"

    model: str = "deltanet"
    vocab_size: int = 256
    model_config: dict | None = None
    use_cache: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        flat = dict(self.model_config or {})
        for key in ("input_size", "output_size"):
            if flat.get(key, self.vocab_size) != self.vocab_size:
                raise ValueError(f"model_config[{key!r}] = {flat[key]} differs from "
                                 f"vocab_size = {self.vocab_size}")
        if not flat.get("tokens", True):
            raise ValueError("model_config['tokens'] must be True: a language model reads "
                             "token ids")
        flat |= {"input_size": self.vocab_size, "output_size": self.vocab_size}
        self.model_config = dataclasses.asdict(models.make_config(self.model, **flat))
        super().__post_init__(**kwargs)
