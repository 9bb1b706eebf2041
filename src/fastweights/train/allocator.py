"""Keep freed memory for reuse in long-running CPU jobs (training, sweeps, benchmarks).

glibc's malloc serves every block above its mmap threshold (which grows to at most 32 MB)
with a fresh ``mmap`` and unmaps it on free, and it returns the top of its heap to the system
once more than the trim threshold is free. A long-sequence training step allocates and frees
many activations larger than that (one [B, T, 3·d] projection at B 8, T 4096, d 256 is
100 MB), so every step page-faults them in anew. ``keep_freed_memory`` serves every block
from the heap (``M_MMAP_MAX = 0``) and never trims it (``M_TRIM_THRESHOLD`` at its maximum):
a step then reuses the memory the previous one freed. The price is that the process keeps its
peak heap until it exits. The command line applies it to the commands that train or time
models (``cli.LONG_RUNNING``: train, eval, compare, sweep, reproduce, rl, bench);
``FASTWEIGHTS_MALLOC=default`` leaves malloc as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

ENV = "FASTWEIGHTS_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)
TRIM_MAX = 2**31 - 1


def keep_freed_memory() -> bool:
    """Configure glibc's malloc as the module docstring says, in this process (``mallopt``)
    and in the processes it starts (``GLIBC_TUNABLES``, read when a process starts, so that
    sweep and reproduction workers get it too); True when it applied (Linux with glibc, and
    ``FASTWEIGHTS_MALLOC`` not ``default``), False elsewhere."""
    if os.environ.get(ENV, "") == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to configure
        return False
    if not (mallopt(M_MMAP_MAX, 0) and mallopt(M_TRIM_THRESHOLD, TRIM_MAX)):
        return False
    tunables = [t for t in os.environ.get("GLIBC_TUNABLES", "").split(":") if t]
    ours = {"glibc.malloc.mmap_max": "0", "glibc.malloc.trim_threshold": str(TRIM_MAX)}
    kept = [t for t in tunables if t.split("=")[0] not in ours]
    os.environ["GLIBC_TUNABLES"] = ":".join(kept + [f"{k}={v}" for k, v in ours.items()])
    return True
