"""Other projects' CPU implementations of our rules, run side by side in the ops benchmark.

- flash-linear-attention's pure-torch references (``pip install fastweights[bench]``, which
  pulls ``fla-core`` without Triton): each ``naive.py`` is loaded from its file on its own,
  so that no module of fla that imports Triton is ever executed;
- Hugging Face transformers' ``torch_chunk_gated_delta_rule`` (Qwen3-Next's CPU path);
- the native-torch chunkwise mLSTM of NXAI's ``mlstm-kernels`` (xLSTM's kernels; its CPU
  modules import without Triton), with its own backward (``native_custbw``).

Every peer takes our inputs (the rule's arguments in our order and conventions, [B, T, H, ·],
scale K^-1/2) and returns the output [B, T, H, V]; the wrapper maps them to the peer's
(layout, gate parametrisation, argument names). The benchmark checks each peer against our
reference before it times it. A peer whose package is missing is listed as unavailable,
with the install hint.

Not peers: fla's ``chunk_momentum_delta_rule_ref`` (it disagrees with fla's own recurrent
reference: 0.27 relative at chunk 64 and 1e-4 at chunk 16, also in float64; the recurrent
reference stands in), fla's ``naive_mesa_net_CG`` (30 conjugate-gradient steps with a 1e-5
damping: 1.8e-4 from the exact read in float32, over the 1e-4 bar; the exact read stands in),
the Oja rule (fla's ``gated_oja_rule`` is Triton only) and RWKV-7 (fla's ``rwkv7`` is Triton
only; ``dplr_delta_rule``'s reference is its pure-torch form).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
from torch import Tensor

HINT = "pip install 'fastweights[bench]'"


@dataclass(frozen=True)
class Peer:
    """One peer implementation of ``variant`` (``ops.dispatch.variant``)."""

    name: str
    variant: str
    load: Callable[[], Callable]  # -> fn(*tensors in our arg order) -> o
    multiple: int = 1  # T must be a multiple of this (the peer does not pad)
    # maps our inputs into the peer's narrower domain; both contenders then run on them
    restrict: Callable[[list[Tensor]], list[Tensor]] | None = None
    # the peer's forward+backward is timed up to this T only (None: always), and why
    backward_up_to: int | None = None
    backward_why: str = ""


@cache
def _fla_naive(subpackage: str):
    """``fla/ops/<subpackage>/naive.py`` as a module of its own (no fla package import)."""
    spec = importlib.util.find_spec("fla")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"flash-linear-attention is not installed; {HINT}")
    path = Path(spec.submodule_search_locations[0]) / "ops" / subpackage / "naive.py"
    name = "_fla_naive_" + subpackage.replace("/", "_")
    mod_spec = importlib.util.spec_from_file_location(name, path)
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


def _fla_kda():
    fn = _fla_naive("kda").naive_chunk_kda  # g: per-key log-decay, decay before the delta step
    return lambda q, k, v, g, beta: fn(q, k, v, g, beta, scale=q.shape[-1] ** -0.5,
                                       chunk_size=64)[0]


def _fla_dplr():
    # S ← Diag(e^gk) S + k vᵀ + beta (alphaᵀ S) in [B, H, T, ·], q scaled by K^-1/2 inside:
    # fla's alpha reads (our a), its beta writes (our b)
    fn = _fla_naive("generalized_delta_rule/dplr").dplr_chunkwise

    def run(q, k, v, a, b, g):
        o, _ = fn(*(x.transpose(1, 2) for x in (q, k, v, a, b, g)), output_final_state=False,
                  chunk_size=32)
        return o.transpose(1, 2)
    return run


def _fla_momentum():
    # fla: M ← μ M + η k (Sᵀp − v)ᵀ, S ← α S − β M (μ, α as logs); ours with p = k, μ = our η,
    # its η = 2θ, β = 1, α = 1 − our α (its M is minus ours)
    fn = _fla_naive("momentum_delta_rule").recurrent_momentum_delta_rule_ref

    def run(q, k, v, theta, eta, alpha):
        return fn(q, k, v, log_alpha=torch.log1p(-alpha), log_mu=eta.log(), p=k,
                  beta=torch.ones_like(theta), eta=2 * theta, scale=q.shape[-1] ** -0.5)[0]
    return run


def _constant_lam(xs: list[Tensor]) -> list[Tensor]:
    """fla's MesaNet takes one λ per head and key: ours [B, T, H, K] held at its first row."""
    *rest, lam = xs
    return [*rest, lam[:1, :1].expand_as(lam).contiguous()]


def _fla_mesa():
    # the exact read: every H_kk,t, then one batched solve; raw query (our scale 1); λ [H, K]
    fn = _fla_naive("mesa_net").naive_mesa_net_exact

    def run(q, k, v, g, beta, lam):
        if v.shape[-1] != k.shape[-1]:
            raise ValueError("fla's naive_mesa_net_exact needs V = K")
        return fn(q, k, v, g, lam[0, 0], beta)[0]
    return run


def _mlstm_kernels():
    try:
        from mlstm_kernels.torch.chunkwise.native import mlstm_chunkwise__native_custbw
    except ImportError as e:
        raise ImportError(f"mlstm-kernels is not installed; {HINT}") from e

    def run(q, k, v, i, f):  # [B, H, T, ·]; i, f pre-activations; q·k scaled by K^-1/2
        h = mlstm_chunkwise__native_custbw(*(x.transpose(1, 2).contiguous()
                                             for x in (q, k, v, i, f)), chunk_size=64)
        return h.transpose(1, 2)
    return run


PEERS = [
    Peer("fla naive_chunk_linear_attn", "sum_rule", _fla_linear_attn, multiple=64),
    Peer("fla naive_chunk_simple_gla", "gated_sum_rule (g [B, T, H])", _fla_simple_gla),
    Peer("fla naive_recurrent_gla", "gated_sum_rule (g [B, T, H, K])", _fla_gla_recurrent),
    Peer("fla delta_rule_chunkwise", "delta_rule", _fla_delta_rule, multiple=32),
    Peer("fla naive_chunk_gated_delta_rule", "gated_delta_rule (g [B, T, H])",
         _fla_gated_delta_rule),
    Peer("transformers torch_chunk_gated_delta_rule", "gated_delta_rule (g [B, T, H])",
         _hf_gated_delta_rule),
    Peer("fla naive_chunk_kda", "gated_delta_rule (g [B, T, H, K])", _fla_kda, multiple=64),
    Peer("fla dplr_chunkwise", "dplr_delta_rule", _fla_dplr, multiple=32),
    Peer("fla recurrent_momentum_delta_rule_ref", "momentum_delta_rule", _fla_momentum),
    Peer("fla naive_mesa_net_exact (λ per head and key)", "mesa_rule", _fla_mesa,
         restrict=_constant_lam, backward_up_to=128,
         backward_why="its backward grows as T² (each step's H_kk is written into one "
                      "[B, T, H, K, K] buffer, and autograd copies the buffer per write)"),
    Peer("mlstm_kernels chunkwise native_custbw", "mlstm_rule", _mlstm_kernels, multiple=64),
]


def available(peer: Peer) -> tuple[Callable | None, str]:
    """(the peer's function, "") or (None, why it is unavailable)."""
    try:
        return peer.load(), ""
    except (ImportError, FileNotFoundError, AttributeError) as e:
        return None, str(e).splitlines()[0]

