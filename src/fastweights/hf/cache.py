"""``FastWeightsCache``: the model's recurrent state between ``generate`` steps.

transformers 5.x gives recurrent layers ``LinearAttentionLayer`` cache entries: per layer,
numbered ``conv_states`` and ``recurrent_states`` of fixed shape, written in place by the
layer itself (``cache.update_recurrent_state(S, layer_idx)``), reset to zeros. That does not
fit these models, so this is a ``Cache`` subclass holding the model's own state instead:

- a model's state is one ``ModelState`` of named tensors produced by the whole model
  (``y, state = model(x, state)``), not per-layer updates from inside the layers, and the
  wrapper should not reach into each family's layers;
- some states do not start at zero (a Tsodyks–Markram synapse starts at x = 1), so a
  zeroing ``reset`` would be wrong; ``ModelState.reset`` restores the right values;
- the softmax-attention baseline's state is a growing KV cache, which a fixed-shape
  recurrent slot cannot hold.

The cache counts the positions it has consumed (padding included), which ``generate``
reads through ``get_seq_length`` to feed only new tokens when a cache is passed back in.
Beam search and ``num_return_sequences`` reorder rows through ``ModelState.select``. A
recurrent state cannot be rolled back, so ``crop`` raises.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache


class FastWeightsCache(Cache):
    def __init__(self, state=None, seen: int = 0):
        super().__init__(layers=[])
        self.state = state
        self.seen = seen

    def __repr__(self) -> str:
        kind = "empty" if self.state is None else type(self.state).__name__
        return f"FastWeightsCache(seen={self.seen}, state={kind})"

    def update_state(self, state, n_tokens: int) -> None:
        """Store the state after ``n_tokens`` more positions."""
        self.state = state
        self.seen += n_tokens

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen

    def get_max_length(self, layer_idx: int | None = None) -> int:
        return -1

    @property
    def is_linear(self) -> list[bool]:
        # False: ``generate`` then slices a re-fed prompt by ``get_seq_length``
        return [False]

    @property
    def is_compileable(self) -> bool:
        return False

    @property
    def is_croppable(self) -> bool:
        return False

    @property
    def batch_size(self) -> int:
        size = None if self.state is None else self.state.batch_size
        return -1 if size is None else size

    def _select(self, idx: torch.Tensor) -> None:
        if self.state is not None:
            self.state = self.state.select(idx)

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        self._select(beam_idx)

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        self._select(indices)

    def batch_repeat_interleave(self, repeats: int) -> None:
        if self.state is not None:
            self._select(torch.arange(self.batch_size).repeat_interleave(repeats))

    def reset(self) -> None:
        self.state, self.seen = None, 0

    def crop(self, tokens_to_remove: int) -> None:
        raise ValueError("a recurrent state cannot be rolled back: FastWeightsCache does not "
                         "support crop (assisted decoding, deferred stop checks)")
