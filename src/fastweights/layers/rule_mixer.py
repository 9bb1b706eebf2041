"""The frame shared by the next-wave mixers (mLSTM, KDA, RWKV-7, Titans, Oja, MesaNet): one
update rule of ``fastweights.ops`` with the parameters its paper puts around it.

A subclass builds its projections, computes the rule's per-step arguments from x and hands
them to ``run``; the frame owns what every such layer repeats:

- the state: the rule's state tensors, named and shaped as its declaration says
  (``ops.RULES[rule].state``: e.g. ``C, n, m`` for mLSTM, ``S, M`` for Titans), plus the
  short convolution's cache ``conv`` when the layer has one, plus any ``extra_state``;
- ``mask`` [B, T]: a False step is made neutral, each argument set to its declared neutral
  value (``Arg.neutral``: k = 0, a write gate 0, mLSTM's ĩ = −10⁴), so that it leaves the
  state exactly as it was; a rule without a neutral step (``Rule.neutral_steps`` False,
  Titans' momentum) runs the real steps of each row packed (``cu_seqlens``) instead;
- ``return_intermediates``: ``RuleIntermediates``, the rule's arguments and its states
  after every step, recomputed one step at a time by the recurrent form (only when asked).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from fastweights import ops
from fastweights.layers.config import check_types
from fastweights.layers.conv import ShortConv
from fastweights.layers.norm import RMSNorm

State = dict[str, Tensor]


@dataclass
class RuleMixerConfig:
    d_model: int = 64
    n_heads: int = 4
    conv_size: int = 4
    form: str = "auto"
    chunk_size: int = 64

    def __post_init__(self) -> None:
        check_types(self)
        if self.d_model < 1 or self.n_heads < 1 or self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a positive multiple of "
                             f"n_heads ({self.n_heads})")
        if self.conv_size < 0 or self.conv_size == 1:
            raise ValueError(f"conv_size must be 0 (off) or >= 2, got {self.conv_size}")
        if self.chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class RuleIntermediates:
    args: dict[str, Tensor]  # the rule's per-step arguments, each [B, T, H, ...]
    states: dict[str, Tensor]  # each rule state after every step t, [B, T, H, ...]


def heads(x: Tensor, n_heads: int) -> Tensor:
    """[B, T, H·D] → [B, T, H, D]."""
    return rearrange(x, "b t (h d) -> b t h d", h=n_heads)


def mamba_dt_bias(n: int) -> Tensor:
    """softplus⁻¹ of n steps Δ drawn log-uniform in [1e-3, 1e-1] (Mamba2's Δ bias)."""
    dt = torch.empty(n).uniform_(math.log(1e-3), math.log(1e-1)).exp()
    return dt + torch.log(-torch.expm1(-dt))


class RuleMixer(nn.Module):
    """Base: ``rule`` an ``ops.RULES`` name, ``K``/``V`` the per-head key and value widths,
    ``conv_channels`` the width of the short convolution (0: none); ``extra_state`` names
    further state tensors {name: per-sequence shape} that the subclass carries, ``scale``
    the op's read scale."""

    extra_state: dict[str, tuple[int, ...]] = {}
    scale: float | None = None  # the op's read scale (None: its default)

    def __init__(self, config: RuleMixerConfig, rule: str, K: int, V: int,
                 conv_channels: int = 0):
        super().__init__()
        self.config, self.rule, self.K, self.V = config, ops.RULES[rule], K, V
        self.conv = (ShortConv(conv_channels, config.conv_size)
                     if config.conv_size and conv_channels else None)

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sequence shapes of every state tensor."""
        sizes = {"H": self.config.n_heads, "K": self.K, "V": self.V}
        shapes = {s.name: tuple(sizes[d] for d in s.shape.split()[1:]) for s in self.rule.state}
        if self.conv is not None:
            shapes["conv"] = (self.conv.in_channels, self.conv.kernel_size[0] - 1)
        return shapes | self.extra_state

    def init_state(self, batch: int, device=None, dtype=None) -> State:
        return {n: torch.zeros(batch, *s, device=device, dtype=dtype)
                for n, s in self.state_shapes().items()}

    def state_size(self) -> int:
        return sum(math.prod(s) for s in self.state_shapes().values())

    def convolve(self, u: Tensor, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
        """The short causal convolution (then SiLU) of u [B, T, C]; returns (u, {"conv"})."""
        if self.conv is None:
            return u, {}
        u, cache = self.conv(u, state["conv"], mask)
        return u, {"conv": cache}

    def op_options(self) -> dict:
        """Keyword options of the rule that the layer sets (``Rule.options``)."""
        return {}

    def _op(self, args: dict[str, Tensor], initial, form: str, cu_seqlens=None):
        return self.rule.fn(*(args[a.name] for a in self.rule.args), scale=self.scale,
                            initial_state=initial,
                            output_final_state=True, form=form,
                            chunk_size=self.config.chunk_size, cu_seqlens=cu_seqlens,
                            **self.op_options())

    def _pack(self, finals) -> State:
        finals = (finals,) if isinstance(finals, Tensor) else finals
        return {s.name: f for s, f in zip(self.rule.state, finals, strict=True)}

    def run(self, args: dict[str, Tensor], state: State, mask: Tensor | None
            ) -> tuple[Tensor, State]:
        """The rule on ``args`` (its argument names → [B, T, H, ...]) from ``state``;
        returns (o [B, T, H, V], the rule's new state tensors)."""
        names = [s.name for s in self.rule.state]
        initial = tuple(state[n] for n in names)
        initial = initial[0] if len(initial) == 1 else initial
        if mask is None:
            o, finals = self._op(args, initial, self.config.form)
            return o, self._pack(finals)
        if self.rule.neutral_steps:
            args = {a.name: torch.where(mask.view(*mask.shape, *[1] * (args[a.name].dim() - 2)),
                                        args[a.name], a.neutral) for a in self.rule.args}
            o, finals = self._op(args, initial, self.config.form)
            return o, self._pack(finals)
        # no neutral step: run each row's real steps, packed, from that row's state
        lengths = mask.sum(1)
        rows = lengths > 0
        new = {n: state[n].clone() for n in names}
        o = args["v"].new_zeros(*mask.shape, self.config.n_heads, self.V)
        if not bool(rows.any()):
            return o, new
        cu = torch.cat([lengths.new_zeros(1), lengths[rows].cumsum(0)])
        packed = {n: a[mask].unsqueeze(0) for n, a in args.items()}
        part = tuple(state[n][rows] for n in names)
        o_real, finals = self._op(packed, part[0] if len(part) == 1 else part,
                                  self.config.form, cu_seqlens=cu)
        o = o.index_put((mask,), o_real[0].to(o.dtype))
        for n, f in self._pack(finals).items():
            new[n] = new[n].index_put((rows,), f.to(new[n].dtype))
        return o, new

    def trajectory(self, args: dict[str, Tensor], state: State) -> dict[str, Tensor]:
        """Each rule state after every step, [B, T, ...], by the recurrent form one step
        at a time (for analysis; T op calls)."""
        names = [s.name for s in self.rule.state]
        initial = tuple(state[n] for n in names)
        initial = initial[0] if len(initial) == 1 else initial
        steps = []
        for t in range(args["q"].shape[1]):
            _, initial = self._op({n: a[:, t:t + 1] for n, a in args.items()}, initial,
                                  "recurrent")
            steps.append(self._pack(initial))
        return {n: torch.stack([s[n] for s in steps], 1) if steps
                else state[n].unsqueeze(1)[:, :0] for n in names}

    def finish(self, y: Tensor, new_state: State, args: dict[str, Tensor], state: State,
               return_intermediates: bool) -> tuple:
        """(y, state) or, when asked, (y, state, RuleIntermediates)."""
        if not return_intermediates:
            return y, new_state
        return y, new_state, RuleIntermediates(args, self.trajectory(args, state))


class QKVMixer(RuleMixer):
    """The FWP-style frame of the Titans, Oja and MesaNet layers (d = head_dim = K = V):

        [q̃; k̃; ṽ]_t = SiLU(causal depthwise conv of W_qkv x_t)     (conv_size c)
        q_t = q̃_t / ‖q̃_t‖,  k_t = k̃_t / ‖k̃_t‖,  v_t = ṽ_t           (v normalised too
                                                                    with ``unit_values``)
        o_t, state = rule(q, k, v, gates(x))                        (the subclass's gates)
        y_t = W_o (RMSNorm(o_t) ⊙ SiLU(W_r x_t))                    the gated output norm

    State: the rule's tensors and ``conv`` [B, 3·d_model, c−1]."""

    unit_values = False

    def __init__(self, config: RuleMixerConfig, rule: str):
        c = config
        super().__init__(c, rule, c.head_dim, c.head_dim, 3 * c.d_model)
        self.qkv = nn.Linear(c.d_model, 3 * c.d_model, bias=False)
        self.norm = RMSNorm(c.head_dim)
        self.gate = nn.Linear(c.d_model, c.d_model, bias=False)
        self.out = nn.Linear(c.d_model, c.d_model, bias=False)

    def gates(self, x: Tensor) -> dict[str, Tensor]:
        """The rule's arguments other than q, k, v, from x [B, T, d_model]."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None, *, mask: Tensor | None = None,
                return_intermediates: bool = False) -> tuple:
        H = self.config.n_heads
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        u, new = self.convolve(self.qkv(x), state, mask)
        q, k, v = (heads(t, H) for t in u.chunk(3, dim=-1))
        v = F.normalize(v, dim=-1) if self.unit_values else v
        args = {"q": F.normalize(q, dim=-1), "k": F.normalize(k, dim=-1), "v": v,
                **self.gates(x)}
        o, s = self.run(args, state, mask)
        y = self.out(self.norm(o).flatten(2) * F.silu(self.gate(x)))
        return self.finish(y, s | new, args, state, return_intermediates)
