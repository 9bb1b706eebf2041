"""Other projects' CPU implementations of our rules, run side by side in the ops benchmark.

- flash-linear-attention's pure-torch references (``pip install fastweights[bench]``, which
  pulls ``fla-core`` without Triton): each ``naive.py`` is loaded from its file on its own,
  so that no module of fla that imports Triton is ever executed;
- Hugging Face transformers' ``torch_chunk_gated_delta_rule`` (Qwen3-Next's CPU path).

Every peer takes our inputs (``q, k, v[, g][, beta]`` in [B, T, H, ·], scale K^-1/2) and
returns the output [B, T, H, V]; the benchmark checks it against our reference before it
times it. A peer whose package is missing is listed as unavailable, with the install hint.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HINT = "pip install 'fastweights[bench]'"


@dataclass(frozen=True)
class Peer:
    """One peer implementation of ``variant`` (``ops.dispatch.variant``)."""

    name: str
    variant: str
    load: Callable[[], Callable]  # -> fn(*tensors in our arg order, chunk) -> o
    multiple: int = 1  # T must be a multiple of this (the peer does not pad)


@cache
def _fla_naive(subpackage: str):
    """``fla/ops/<subpackage>/naive.py`` as a module of its own (no fla package import)."""
    spec = importlib.util.find_spec("fla")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"flash-linear-attention is not installed; {HINT}")
    path = Path(spec.submodule_search_locations[0]) / "ops" / subpackage / "naive.py"
    mod_spec = importlib.util.spec_from_file_location(f"_fla_naive_{subpackage}", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


def _fla_linear_attn():
    fn = _fla_naive("linear_attn").naive_chunk_linear_attn
    return lambda q, k, v: fn(q, k, v, scale=q.shape[-1] ** -0.5)


def _fla_simple_gla():
    fn = _fla_naive("simple_gla").naive_chunk_simple_gla
    return lambda q, k, v, g: fn(q, k, v, g, chunk_size=64, scale=q.shape[-1] ** -0.5)[0]


def _fla_gla_recurrent():
    fn = _fla_naive("gla").naive_recurrent_gla
    return lambda q, k, v, g: fn(q, k, v, g)[0]


def _fla_delta_rule():
    fn = _fla_naive("delta_rule").delta_rule_chunkwise

    def run(q, k, v, beta):
        o, _ = fn(*(x.transpose(1, 2) for x in (q, k, v, beta)), chunk_size=32)
        return o.transpose(1, 2)
    return run


def _fla_gated_delta_rule():
    fn = _fla_naive("gated_delta_rule").naive_chunk_gated_delta_rule
    return lambda q, k, v, g, beta: fn(q, k, v, g, beta, chunk_size=64,
                                       scale=q.shape[-1] ** -0.5)[0]


def _hf_gated_delta_rule():
    try:
        from transformers.models.qwen3_next.modeling_qwen3_next import (
            torch_chunk_gated_delta_rule,
        )
    except ImportError as e:
        raise ImportError(f"transformers is not installed; {HINT}") from e
    return lambda q, k, v, g, beta: torch_chunk_gated_delta_rule(q, k, v, g, beta,
                                                                 chunk_size=64)[0]


PEERS = [
    Peer("fla naive_chunk_linear_attn", "sum_rule", _fla_linear_attn, multiple=64),
    Peer("fla naive_chunk_simple_gla", "gated_sum_rule (g [B, T, H])", _fla_simple_gla),
    Peer("fla naive_recurrent_gla", "gated_sum_rule (g [B, T, H, K])", _fla_gla_recurrent),
    Peer("fla delta_rule_chunkwise", "delta_rule", _fla_delta_rule, multiple=32),
    Peer("fla naive_chunk_gated_delta_rule", "gated_delta_rule (g [B, T, H])",
         _fla_gated_delta_rule),
    Peer("transformers torch_chunk_gated_delta_rule", "gated_delta_rule (g [B, T, H])",
         _hf_gated_delta_rule),
]


def available(peer: Peer) -> tuple[Callable | None, str]:
    """(the peer's function, "") or (None, why it is unavailable)."""
    try:
        return peer.load(), ""
    except (ImportError, FileNotFoundError, AttributeError) as e:
        return None, str(e).splitlines()[0]

