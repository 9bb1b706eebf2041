"""Experiment configs: flat dataclasses whose defaults run, set from a TOML file and dotted flags.

An experiment is a model (registry name + its config fields), a task (name + fields) and a
``TrainConfig``. Precedence: dataclass defaults < TOML file < command-line flags::

    # experiment.toml
    [model]
    name = "deltanet"
    d_model = 64
    [task]
    name = "assoc-retrieval"
    n_pairs = 3
    [train]
    lr = 1e-3

    fastweights train experiment.toml --model.d_model=128 --train.steps=500

Unknown keys, wrong types and impossible values raise ValueError naming the key, before
any training starts.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from fastweights import models, tasks

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
SECTIONS = ("model", "task", "train")


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip: float = 1.0
    eval_every: int = 100
    target: float | None = None  # stop early once the main test metric reaches it
    seed: int = 0
    threads: int = 1
    device: str = "auto"  # auto: CUDA when available, else CPU
    tensorboard: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a positive finite number, got {self.lr}")
        if self.warmup < 0:
            raise ValueError(f"train.warmup must be >= 0, got {self.warmup}")
        if not (self.clip > 0 and math.isfinite(self.clip)):
            raise ValueError(f"train.clip must be a positive finite number, got {self.clip}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device must be auto, cpu or cuda, got {self.device!r}")


@dataclass
class Experiment:
    model: str = "deltanet"
    task: str = "assoc-retrieval"
    model_config: dict = field(default_factory=dict)
    task_config: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> None:
        """Build the task and the model config once: bad names, keys or values raise here."""
        task = tasks.build(self.task, **self.task_config)
        models.make_config(self.model, **self.model_sizes(task), **self.model_config)

    @staticmethod
    def model_sizes(task: tasks.Task) -> dict:
        """The model fields a task sets: its input and output sizes and input kind."""
        return {"input_size": task.input_size, "output_size": task.output_size,
                "tokens": task.tokens}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Experiment:
        return cls(d["model"], d["task"], dict(d["model_config"]), dict(d["task_config"]),
                   TrainConfig(**d["train"]))


def convert(config_cls: type, values: dict, section: str) -> dict:
    """Check ``values`` against ``config_cls``'s fields; convert strings to the field types.

    Field types: int, float, bool, str, or ``X | None`` (``none`` means None).
    """
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    result = {}
    for key, raw in values.items():
        if key not in fields:
            raise ValueError(f"unknown key {section}.{key}; {section} keys: "
                             f"{', '.join(sorted(fields))}")
        kind = str(fields[key].type)
        result[key] = _convert_value(raw, kind, f"{section}.{key}")
    return result


def _convert_value(raw, kind: str, key: str):
    if raw is None or (isinstance(raw, str) and raw.lower() == "none"):
        if "None" in kind:
            return None
        raise ValueError(f"{key} must be of type {kind}, got None")
    base = kind.split("|")[0].strip()
    try:
        if base == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() not in _TRUE | _FALSE:
                raise ValueError(raw)
            return str(raw).lower() in _TRUE
        if base == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if base == "float":
            if isinstance(raw, bool):
                raise ValueError(raw)
            return float(raw)
        if base == "str":
            if not isinstance(raw, str):
                raise ValueError(raw)
            return raw
        return raw
    except (TypeError, ValueError):
        raise ValueError(f"{key} must be of type {kind}, got {raw!r}") from None


def parse_dotted(argv: list[str]) -> dict[str, dict[str, str]]:
    """Split ``--section.key=value`` / ``--section.key value`` arguments by section."""
    out: dict[str, dict[str, str]] = {s: {} for s in SECTIONS}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or "." not in arg.split("=")[0]:
            raise ValueError(f"unrecognised argument {arg!r}; overrides look like "
                             f"--model.KEY=VALUE (sections: {', '.join(SECTIONS)})")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise ValueError(f"override --{key} has no value")
            i, value = i + 1, argv[i + 1]
        section, _, name = key.partition(".")
        if section not in out:
            raise ValueError(f"unknown config section {section!r} in --{key}; "
                             f"sections: {', '.join(SECTIONS)}")
        out[section][name] = value
        i += 1
    return out


def read_toml(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path} is not valid TOML: {e}") from None


def resolve(file: dict | None = None, flags: dict[str, dict] | None = None,
            model: str | None = None, task: str | None = None) -> Experiment:
    """Merge a parsed TOML ``file`` and dotted ``flags`` into a validated Experiment.

    ``model`` / ``task`` (from ``--model NAME`` / ``--task NAME``) override the file's names.
    """
    file, flags = file or {}, flags or {}
    unknown = sorted(set(file) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; sections: {', '.join(SECTIONS)}")
    sections = {s: dict(file.get(s, {})) for s in SECTIONS}
    model = model or sections["model"].pop("name", Experiment.model)
    task = task or sections["task"].pop("name", Experiment.task)
    # a name given on the command line overrides the file's; the file's is not a field
    sections["model"].pop("name", None)
    sections["task"].pop("name", None)
    if model not in models.MODELS:
        raise ValueError(f"unknown model {model!r}; available: {', '.join(sorted(models.MODELS))}")
    if task not in tasks.TASKS:
        raise ValueError(f"unknown task {task!r}; available: {', '.join(sorted(tasks.TASKS))}")
    classes = {"model": models.MODELS[model].config, "task": tasks.TASKS[task].Config,
               "train": TrainConfig}
    merged = {s: convert(classes[s], sections[s], s) | convert(classes[s], flags.get(s, {}), s)
              for s in SECTIONS}
    exp = Experiment(model, task, merged["model"], merged["task"], TrainConfig(**merged["train"]))
    exp.validate()
    return exp
