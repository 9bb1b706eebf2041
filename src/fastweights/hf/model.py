"""``FastWeightsForCausalLM``: any token-input registry model as a ``transformers`` causal LM.

The wrapped model is ``self.model = fastweights.models.build(config.model,
**config.model_config)``; its logits are the LM logits and its state travels in a
``FastWeightsCache``. ``forward`` follows the ``transformers`` conventions:

- ``labels``: the loss is next-token cross-entropy, labels shifted inside
  (``labels = input_ids`` works; ``-100`` marks unscored positions);
- ``attention_mask`` [B, T] (1 = real token): a padding position writes nothing to the
  state, so a left-padded prompt in a batch continues exactly as it does alone. During
  ``generate`` the mask covers the whole sequence so far; only its last T columns (the
  new positions) are used;
- ``cache``: a ``FastWeightsCache`` to continue from (``generate`` creates one); with
  ``use_cache`` the output carries the updated cache.

Generation is the model's own recurrence: a prefill (one call, or chunks with
``prefill_chunk_size``) then one ``forward`` per new token, which computes what
``model.step`` does. Weights are saved as ``model.*`` tensors of the registry model.
"""

from __future__ import annotations

import torch
from transformers import GenerationMixin, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from fastweights import models
from fastweights.hf.cache import FastWeightsCache
from fastweights.hf.config import FastWeightsConfig


class FastWeightsForCausalLM(PreTrainedModel, GenerationMixin):
    config_class = FastWeightsConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"

    def __init__(self, config: FastWeightsConfig):
        super().__init__(config)
        self.model = models.build(config.model, **config.model_config)
        self.post_init()

    def _init_weights(self, module: torch.nn.Module) -> None:
        """Nothing: the registry model initialises itself (``from_pretrained`` fills what
        loading leaves unset from a fresh build instead)."""

    @classmethod
    def from_pretrained(cls, *args, output_loading_info: bool = False, **kwargs):
        """``PreTrainedModel.from_pretrained``, then every tensor that loading did not fill
        (non-persistent buffers such as one-hot tables, missing weights) is copied from a
        fresh build of the registry model: the meta-device build leaves them unset."""
        lm, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        with torch.random.fork_rng(devices=[]):
            fresh = models.build(lm.config.model, **lm.config.model_config)
        saved = set(lm.state_dict())
        unset = {n for n, _ in lm.named_buffers() if n not in saved}
        unset |= set(info["missing_keys"])
        unset |= {k if isinstance(k, str) else k[0] for k in info.get("mismatched_keys", ())}
        theirs = {f"model.{n}": t for n, t in
                  [*fresh.named_parameters(), *fresh.named_buffers()]}
        with torch.no_grad():
            for name in unset:
                lm.get_parameter_or_buffer(name).copy_(theirs[name])
        return (lm, info) if output_loading_info else lm

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.model.encoder

    def set_input_embeddings(self, value: torch.nn.Module) -> None:
        self.model.encoder = value

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.model.head

    def _prepare_cache_for_generation(self, generation_config, model_kwargs, *args, **kwargs):
        # Every generation gets a FastWeightsCache unless the caller passed one or turned
        # caching off (the default would be a DynamicCache of key/value layers)
        if model_kwargs.get("cache") is None and generation_config.use_cache is not False:
            model_kwargs["cache"] = FastWeightsCache()
            return
        super()._prepare_cache_for_generation(generation_config, model_kwargs, *args, **kwargs)

    def forward(self, input_ids: torch.LongTensor | None = None,
                attention_mask: torch.Tensor | None = None,
                cache: FastWeightsCache | None = None,
                labels: torch.LongTensor | None = None,
                use_cache: bool | None = None,
                logits_to_keep: int = 0,
                return_dict: bool | None = None,
                **kwargs) -> CausalLMOutputWithPast | tuple:
        if input_ids is None:
            raise ValueError("FastWeightsForCausalLM needs input_ids (inputs_embeds are not "
                             "supported)")
        if kwargs.get("inputs_embeds") is not None:
            raise ValueError("inputs_embeds are not supported; pass input_ids")
        if cache is not None and not isinstance(cache, FastWeightsCache):
            raise ValueError(f"cache must be a FastWeightsCache, got {type(cache).__name__}")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return_dict = self.config.return_dict if return_dict is None else return_dict
        if use_cache and cache is None:
            cache = FastWeightsCache()
        T = input_ids.shape[1]
        mask = self._step_mask(attention_mask, input_ids)
        logits, state = self.model(input_ids, None if cache is None else cache.state,
                                   mask=mask)
        if cache is not None:
            cache.update_state(state, T)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels,
                                      vocab_size=self.config.vocab_size, **kwargs)
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        out = CausalLMOutputWithPast(loss=loss, logits=logits,
                                     cache=cache if use_cache else None)
        return out if return_dict else out.to_tuple()

    @staticmethod
    def _step_mask(attention_mask: torch.Tensor | None, input_ids: torch.Tensor):
        """The [B, T] bool mask of the new positions, or None when all are real."""
        if attention_mask is None:
            return None
        B, T = input_ids.shape
        if attention_mask.dim() != 2 or attention_mask.shape[0] != B \
                or attention_mask.shape[1] < T:
            raise ValueError(f"attention_mask must be [B, >= T] = [{B}, >= {T}] "
                             f"(1 = real token), got {tuple(attention_mask.shape)}")
        mask = attention_mask[:, -T:].bool()
        return None if bool(mask.all()) else mask

