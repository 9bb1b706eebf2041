"""The ``fla`` backend: flash-linear-attention's Triton kernels (Yang et al.), CUDA only.

Install with ``pip install 'fastweights[fla]'``. Nothing here imports fla or triton until a
kernel is called on CUDA tensors: on CPU, or without the package, ``backend="fla"`` is a
``ValueError`` saying why and ``backend="auto"`` quietly runs the torch forms.

The op contract already is fla's (layout [B, T, H, K], read after write, ``scale``,
``initial_state`` [N, H, K, V], ``cu_seqlens``, natural-log gates g, fp32 final state), so a
kernel is a name plus the keyword arguments that pin fla's conventions to ours: keys and
queries are used as given (``use_qk_l2norm_in_kernel=False``), the linear-attention kernel
does not normalise (``normalize=False``). A call the kernel cannot serve (float64, a head
size over 256, packed sequences for a kernel without varlen) falls back to torch with one
warning naming the reason under ``backend="auto"``, and raises under ``backend="fla"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_HEAD = 256
INSTALL = "pip install 'fastweights[fla]'"


@dataclass(frozen=True)
class Kernel:
    """One fla function, ``module.name(*tensors, scale=, initial_state=,
    output_final_state=, cu_seqlens=, **kwargs) -> (o, final_state)``."""

    module: str
    name: str
    kwargs: dict = field(default_factory=dict)
    varlen: bool = True

    def unsupported(self, tensors: Sequence[Tensor], dims: dict[str, int],
                    cu_seqlens: Tensor | None) -> str | None:
        """Why this kernel cannot serve the call, or None."""
        if tensors[0].dtype not in DTYPES:
            return f"fla kernels take {', '.join(map(str, DTYPES))}, got {tensors[0].dtype}"
        if max(dims["K"], dims["V"]) > MAX_HEAD:
            return (f"fla kernels take head sizes K, V <= {MAX_HEAD}, got K={dims['K']}, "
                    f"V={dims['V']}")
        if cu_seqlens is not None and not self.varlen:
            return f"fla's {self.name} takes no cu_seqlens"
        return None

    def __call__(self, *tensors: Tensor, scale: float, initial_state, output_final_state: bool,
                 cu_seqlens: Tensor | None):
        fn = getattr(importlib.import_module(self.module), self.name)
        kw = {"cu_seqlens": cu_seqlens} if cu_seqlens is not None else {}
        return fn(*tensors, scale=scale, initial_state=initial_state,
                  output_final_state=output_final_state, **kw, **self.kwargs)


def unavailable(device: torch.device) -> str | None:
    """Why the fla backend cannot run on ``device`` here, or None (imports nothing)."""
    if device.type != "cuda":
        return f"the fla backend runs on CUDA tensors only, got tensors on {device}"
    if importlib.util.find_spec("fla") is None:
        return f"the fla backend needs flash-linear-attention: {INSTALL}"
    return None


_warned: set[str] = set()


def pick(rule, backend: str, form: str, tensors: Sequence[Tensor], dims: dict[str, int],
         cu_seqlens: Tensor | None) -> Kernel | None:
    """The fla kernel that serves this call, or None for the torch forms (see module doc)."""
    if backend == "torch":
        return None
    explicit = backend == "fla"
    kernels = rule.kernels.get("fla", {})
    if not kernels:
        if explicit:
            raise ValueError(f"{rule.name} has no fla kernel; backends: {rule.backends}")
        return None
    reason = unavailable(tensors[0].device)
    if reason is not None:
        if explicit:
            raise ValueError(reason)
        return None
    kernel = kernels.get(form)
    if kernel is None:
        if explicit:
            raise ValueError(f"fla has no {form!r} kernel for {rule.name}; fla forms: "
                             f"{tuple(kernels)}")
        return None
    reason = kernel.unsupported(tensors, dims, cu_seqlens)
    if reason is None:
        return kernel
    if explicit:
        raise ValueError(f"backend='fla' cannot run this {rule.name} call: {reason}")
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"{rule.name}: falling back to the torch backend: {reason}", stacklevel=4)
    return None


@dataclass(frozen=True)
class ByRank:
    """The kernel chosen by the rank of one argument (``tensors[index]``), e.g. a scalar
    gate [B, T, H] → simple GLA, a per-key gate [B, T, H, K] → GLA."""

    index: int
    kernels: dict[int, Kernel]

    def _of(self, tensors: Sequence[Tensor]) -> Kernel:
        return self.kernels[tensors[self.index].dim()]

    def unsupported(self, tensors, dims, cu_seqlens) -> str | None:
        return self._of(tensors).unsupported(tensors, dims, cu_seqlens)

    def __call__(self, *tensors: Tensor, **kwargs):
        return self._of(tensors)(*tensors, **kwargs)
