"""The command line's malloc setting: applied in the process and passed to its children."""

import os
import platform
import subprocess
import sys

import pytest

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="needs glibc")

SCRIPT = """
import os, subprocess, sys
from fastweights.train.allocator import keep_freed_memory
print(keep_freed_memory())
child = "import os; print(os.environ.get('GLIBC_TUNABLES', ''))"
print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
"""


def _run(**env) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("FASTWEIGHTS_MALLOC",
                                                              "GLIBC_TUNABLES")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=base | env, check=True)
    return out.stdout.split("\n")


@glibc
def test_keeps_freed_memory_here_and_in_children():
    applied, child, *_ = _run(GLIBC_TUNABLES="glibc.malloc.arena_max=2")
    assert applied == "True"
    assert child.split(":") == ["glibc.malloc.arena_max=2", "glibc.malloc.mmap_max=0",
                                "glibc.malloc.trim_threshold=2147483647"]


def test_default_leaves_malloc_alone():
    applied, child, *_ = _run(FASTWEIGHTS_MALLOC="default")
    assert applied == "False"
    assert child == ""
