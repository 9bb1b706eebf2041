"""The experiment: a model, a task and a ``TrainConfig``, resolved and validated once.

``Experiment(model, task, train)``: ``model`` and ``task`` are ``Component``s, a registry
name with its config dataclass instance (the model's built with the task's input and output
sizes), ``train`` a ``TrainConfig``. It is made from a TOML file and dotted flags::

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

Precedence: the registry's defaults < TOML file < flags. Types are the config dataclasses'
own (``fastweights.train.fields``); names come from the registries (``models.MODELS``,
``tasks.TASKS`` and ``neurogym:<Env>``). Unknown keys, wrong types and impossible values
raise ValueError naming the key, before any training starts. ``config.json`` of a run folder
is ``Experiment.to_dict()``: the same layout as the TOML file, every field written out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastweights import models, tasks
from fastweights.train.errors import InvalidFile
from fastweights.train.fields import convert

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("model", "task", "train")
DEFAULT_MODEL, DEFAULT_TASK = "deltanet", "assoc-retrieval"
NEUROGYM_HINT = "pip install 'fastweights[neurogym]'"
PRECISIONS = ("fp32", "bf16")
#: Environment variable: a cap on the steps (and evaluation interval, held-out set size) of
#: every run the commands start, to check commands end to end in seconds (the tests set it).
MAX_STEPS_ENV = "FASTWEIGHTS_MAX_STEPS"


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: float = 0.1  # below 1: a fraction of ``steps``; from 1 on: a number of steps
    clip: float = 1.0
    eval_every: int = 100
    target: float | None = None  # stop early once the main test metric reaches it
    seed: int = 0
    threads: int = 1
    device: str = "auto"  # auto: CUDA when available, else CPU
    precision: str = "fp32"  # bf16: autocast of the forward pass and loss to bfloat16 (CUDA)
    compile: bool = False  # train through torch.compile when it is faster (measured)
    tensorboard: bool = False
    wandb: bool = False  # log to Weights & Biases (offline unless WANDB_MODE says otherwise)
    # task fields changed over training stages, e.g. {"horizon": [10, 50, 100]}: stage i
    # trains on the task with every field at its i-th value; evaluation is always on [task]
    curriculum: dict = dataclasses.field(default_factory=dict)
    curriculum_every: int = 0  # steps per stage (0: the stages split the steps evenly)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"train.lr must be a positive finite number, got {self.lr}")
        if not (self.warmup >= 0 and math.isfinite(self.warmup)):
            raise ValueError(f"train.warmup must be >= 0 (a fraction of the steps below 1, "
                             f"a number of steps from 1 on), got {self.warmup}")
        if self.warmup >= 1 and not float(self.warmup).is_integer():
            raise ValueError(f"train.warmup from 1 on is a number of steps and must be whole, "
                             f"got {self.warmup}")
        if not (self.clip > 0 and math.isfinite(self.clip)):
            raise ValueError(f"train.clip must be a positive finite number, got {self.clip}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"train.device must be auto, cpu or cuda, got {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"train.precision must be {' or '.join(PRECISIONS)}, got "
                             f"{self.precision!r}")
        lengths = {len(v) if isinstance(v, list | tuple) else 0
                   for v in self.curriculum.values()}
        if self.curriculum and (0 in lengths or len(lengths) > 1):
            raise ValueError(f"train.curriculum maps task fields to non-empty lists of one "
                             f"value per stage, all of one length, got {self.curriculum!r}")
        if self.curriculum_every < 0:
            raise ValueError(f"train.curriculum_every must be >= 0, got {self.curriculum_every}")

    def curriculum_stage(self, step: int) -> int:
        """The curriculum stage of training step ``step`` (1-based)."""
        n = len(next(iter(self.curriculum.values())))
        every = self.curriculum_every or math.ceil(self.steps / n)
        return min((step - 1) // every, n - 1)

    @property
    def warmup_steps(self) -> int:
        """Warm-up in steps: ``warmup`` itself from 1 on, else that fraction of ``steps``."""
        return int(self.warmup) if self.warmup >= 1 else round(self.warmup * self.steps)


def capped(exp: Experiment) -> Experiment:
    """``exp`` with ``train.steps`` and ``train.eval_every`` at most ``$FASTWEIGHTS_MAX_STEPS``
    and a ``task.test_size`` of at most 64 (unchanged when the variable is unset)."""
    cap = os.environ.get(MAX_STEPS_ENV)
    if not cap:
        return exp
    if not (cap.isdigit() and int(cap) >= 1):
        raise ValueError(f"{MAX_STEPS_ENV} must be an integer >= 1, got {cap!r}")
    steps = min(exp.train.steps, int(cap))
    train = dataclasses.replace(exp.train, steps=steps, eval_every=min(exp.train.eval_every,
                                                                         steps))
    task = exp.task
    if isinstance(getattr(task.config, "test_size", None), int):
        task = Component(task.name, dataclasses.replace(
            task.config, test_size=min(task.config.test_size, 64)))
    return dataclasses.replace(exp, task=task, train=train)


@dataclass(frozen=True)
class Component:
    """A registry name and its config: a dataclass instance, every field set."""

    name: str
    config: Any

    def fields(self) -> dict:
        return dataclasses.asdict(self.config)


def task_config_class(name: str) -> type:
    """The config dataclass of task ``name`` (a ``tasks.TASKS`` name or ``neurogym:<Env>``)."""
    if name.startswith(tasks.NEUROGYM_PREFIX):
        from fastweights.tasks.neurogym_adapter import NeuroGymConfig

        return NeuroGymConfig
    if name not in tasks.TASKS:
        raise ValueError(f"unknown task {name!r}; available: {', '.join(sorted(tasks.TASKS))}, "
                         f"{tasks.NEUROGYM_PREFIX}<EnvName>")
    return tasks.TASKS[name].Config


def model_config_class(name: str) -> type:
    if name not in models.MODELS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(models.MODELS))}")
    return models.MODELS[name].config


def build_task(name: str, fields: dict) -> tasks.Task:
    """``tasks.build``, with the install hint of optional task packages as a ValueError."""
    fields = dict(fields)
    if name.startswith(tasks.NEUROGYM_PREFIX):
        env = name[len(tasks.NEUROGYM_PREFIX):]
        if fields.pop("env", env) != env:
            raise ValueError(f"task.env must match the task name {name!r}")
    try:
        return tasks.build(name, **fields)
    except ImportError as e:
        raise ValueError(f"{e}; or: {NEUROGYM_HINT}") from None


def model_sizes(task: tasks.Task) -> dict:
    """The model fields a task sets: its input and output sizes and input kind."""
    return {"input_size": task.input_size, "output_size": task.output_size,
            "tokens": task.tokens}


@dataclass(frozen=True)
class Experiment:
    model: Component
    task: Component
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)

    model_sizes = staticmethod(model_sizes)

    @classmethod
    def make(cls, model: str = DEFAULT_MODEL, task: str = DEFAULT_TASK,
             model_fields: dict | None = None, task_fields: dict | None = None,
             train: TrainConfig | None = None, params: int | None = None) -> Experiment:
        """Validate and resolve: build the task once, set the model's sizes from it (and its
        ``d_model`` to fit ``params`` parameters when given)."""
        model_fields = convert(model_config_class(model), model_fields or {}, "model")
        task_fields = convert(task_config_class(task), task_fields or {}, "task")
        for name, values in (train.curriculum if train else {}).items():
            for i, value in enumerate(values):  # each stage's value, typed as task.NAME is
                convert(task_config_class(task), {name: value}, f"train.curriculum[{i}]: task")
        the_task = build_task(task, task_fields)
        sizes = model_sizes(the_task)
        clash = sorted(k for k in sizes if k in model_fields and model_fields[k] != sizes[k])
        if clash:
            raise ValueError(f"model field(s) {clash} are set by the task {task!r} "
                             f"({', '.join(f'{k}={sizes[k]}' for k in clash)})")
        model_fields |= sizes
        if params is not None:
            from fastweights.models.sizing import fit_width

            model_fields["d_model"] = fit_width(model, params, **model_fields)
        return cls(Component(model, models.make_config(model, **model_fields)),
                   Component(task, the_task.config), train or TrainConfig())

    def build_task(self) -> tasks.Task:
        return build_task(self.task.name, self.task.fields())

    def build_model(self) -> models.SequenceModel:
        return models.build(self.model.name, **self.model.fields())

    def to_dict(self) -> dict:
        """The TOML layout with every field: ``{"model": {"name": ..., ...}, "task": ...}``."""
        return {"model": {"name": self.model.name, **self.model.fields()},
                "task": {"name": self.task.name, **self.task.fields()},
                "train": dataclasses.asdict(self.train)}

    @classmethod
    def from_dict(cls, d: dict) -> Experiment:
        """Inverse of ``to_dict`` (also reads the older ``model_config`` layout)."""
        if isinstance(d.get("model"), str):  # model / task names beside *_config dicts
            d = {"model": {"name": d["model"], **d.get("model_config", {})},
                 "task": {"name": d["task"], **d.get("task_config", {})},
                 "train": d.get("train", {})}
        sizes = ("input_size", "output_size", "tokens")  # set again by the task
        model = {k: v for k, v in dict(d.get("model", {})).items() if k not in sizes}
        return resolve({"model": model, "task": d.get("task", {}), "train": d.get("train", {})})


def resolve(file: dict | None = None, flags: dict[str, dict] | None = None,
            model: str | None = None, task: str | None = None,
            params: int | None = None) -> Experiment:
    """Merge a parsed TOML ``file`` (typed values) and dotted ``flags`` (text) into an
    Experiment. ``model`` / ``task`` (from ``--model NAME`` / ``--task NAME``) override the
    file's names; ``params`` fits the model's width to that many parameters."""
    file, flags = file or {}, flags or {}
    unknown = sorted(set(file) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; sections: {', '.join(SECTIONS)}")
    sections = {}
    for s in SECTIONS:
        if not isinstance(file.get(s, {}), dict):
            raise ValueError(f"config section [{s}] must be a table, got {file[s]!r}")
        sections[s] = dict(file.get(s, {}))
    names = {"model": model, "task": task}
    defaults = {"model": DEFAULT_MODEL, "task": DEFAULT_TASK}
    for s in ("model", "task"):
        saved = sections[s].pop("name", defaults[s])
        names[s] = names[s] or saved
        if not isinstance(names[s], str):
            raise ValueError(f"{s}.name must be a string, got {names[s]!r}")
    classes = {"model": model_config_class(names["model"]),
               "task": task_config_class(names["task"]), "train": TrainConfig}
    merged = {s: convert(classes[s], sections[s], s)
              | convert(classes[s], flags.get(s, {}), s, text=True) for s in SECTIONS}
    return Experiment.make(names["model"], names["task"], merged["model"], merged["task"],
                           TrainConfig(**merged["train"]), params=params)


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
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidFile(f"config file {path} is not valid TOML (not UTF-8 text)") from None
    except tomllib.TOMLDecodeError as e:
        raise InvalidFile(f"config file {path} is not valid TOML: {e}") from None


def load_experiment(run_dir: str | Path) -> Experiment:
    """The experiment recorded in ``run_dir/config.json``; a missing, corrupt or incomplete
    file is an ``InvalidFile`` naming it."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise InvalidFile(f"{run_dir}: no config.json there (not a run folder)")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidFile(f"{path} is not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise InvalidFile(f"{path} must hold a JSON object, got {type(d).__name__}")
    missing = [k for k in ("model", "task", "train") if k not in d]
    missing += [f"{s}.name" for s in ("model", "task")
                if isinstance(d.get(s), dict) and "name" not in d[s]]
    if missing:
        raise InvalidFile(f"{path} is incomplete: no {', '.join(missing)}")
    try:
        return Experiment.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:
        raise InvalidFile(f"{path} does not describe a valid experiment: {e}") from None
