"""What one comparison spends, and where a reproduction runs.

Every model in a comparison gets the same ``Budget``: steps, batch, evaluation cadence, early
stop, the learning-rate grid and the seeds. Each reproduction states one budget per scale:
``cpu`` (the default, sized for a laptop CPU), ``paper`` (the paper's own settings, for a GPU
or time) and ``quick`` (a few steps of one seed and one learning rate, to exercise the
pipeline in the test suite; its verdict means nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SCALES = ("quick", "cpu", "paper")


@dataclass(frozen=True)
class Budget:
    steps: int
    batch_size: int
    eval_every: int
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    warmup: int = 50
    target: float | None = None  # stop early once the main metric reaches it
    # grid extensions allowed when the best learning rate sits at an edge of the grid
    extend: int = 2
    val_size: int = 500  # validation examples (training distribution) for model selection
    # task fields changed over training stages (``train.curriculum``), e.g. {"horizon": [...]}
    curriculum: dict = field(default_factory=dict)
    # train through torch.compile where train.compile measures it faster (a retrain then
    # reproduces a run exactly when it makes the same choice, recorded in result.json)
    compile: bool = False

    def __post_init__(self) -> None:
        if not self.lrs or not self.seeds:
            raise ValueError(f"a budget needs learning rates and seeds, got lrs={self.lrs}, "
                             f"seeds={self.seeds}")
        if list(self.lrs) != sorted(set(self.lrs)):
            raise ValueError(f"budget lrs must be increasing and distinct, got {self.lrs}")

    def train(self) -> dict:
        """The ``[train]`` fields of a run under this budget (lr and seed come from the grid)."""
        return {"steps": self.steps, "batch_size": self.batch_size,
                "eval_every": self.eval_every, "warmup": min(self.warmup, self.steps - 1),
                "target": self.target, "threads": 1,
                **({"curriculum": dict(self.curriculum)} if self.curriculum else {}),
                **({"compile": True} if self.compile else {})}

    def describe(self) -> str:
        n = len(self.seeds)
        seeds = f"{n} seed{'s' * (n > 1)} ({', '.join(map(str, self.seeds))})"
        stop = f", stop at {self.target:g}" if self.target is not None else ""
        stop += "".join(f"; curriculum over {k} {' → '.join(map(str, v))} in equal stages"
                        for k, v in self.curriculum.items())
        return (f"≤ {self.steps:,} steps, batch {self.batch_size}, evaluation every "
                f"{self.eval_every}{stop}; learning rates {', '.join(f'{lr:g}' for lr in self.lrs)}"
                + (f" (extended by up to {self.extend} when the best is at an edge)"
                   if self.extend and len(self.lrs) > 1 else "") + f"; {seeds}"
                + ("; through torch.compile where measured faster" if self.compile else ""))


@dataclass(frozen=True)
class Context:
    """Where and how a reproduction runs: its scale, run folder and training processes;
    ``report_only`` rebuilds the report from finished runs and trains nothing."""

    scale: str = "cpu"
    workdir: Path = field(default_factory=lambda: Path("runs/reproduce"))
    workers: int = 2
    report_only: bool = False

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {self.scale!r}")

    @property
    def quick(self) -> bool:
        return self.scale == "quick"
