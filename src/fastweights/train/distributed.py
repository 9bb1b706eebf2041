"""Data-parallel training through ``torchrun`` / ``torch.distributed``.

``torchrun --nproc-per-node N -m fastweights train ...`` starts N processes with RANK and
WORLD_SIZE set; each draws the same global batch from the same seeded generator and trains
on its slice of rows, DistributedDataParallel averages the gradients (gloo on CPU, nccl on
GPU), and rank 0 alone logs and writes checkpoints. With equal scored positions per row (as
in every task with one target per sequence) this equals single-process training on the
global batch, up to the order of floating-point sums.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class Context:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, x: torch.Tensor) -> torch.Tensor:
        """This rank's contiguous slice of a global batch."""
        if len(x) % self.world:
            raise ValueError(f"train.batch_size ({len(x)}) must be divisible by the number of "
                             f"processes ({self.world})")
        n = len(x) // self.world
        return x[self.rank * n : (self.rank + 1) * n]

    def mean(self, value: torch.Tensor) -> float:
        """The mean of a scalar over all ranks."""
        value = value.detach()
        if self.world > 1:
            value = value.clone()
            dist.all_reduce(value)
            value /= self.world
        return float(value)


def setup(device: str) -> Context:
    """Join the process group when launched by torchrun; pick the device."""
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but no CUDA device is available")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Context(device=torch.device("cuda" if use_cuda else "cpu"))
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    return Context(rank, world, dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
