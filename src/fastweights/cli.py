"""The ``fastweights`` command: train, compare, list models and tasks, benchmark."""

from __future__ import annotations

import argparse
import dataclasses
import sys

import torch

from fastweights import models, tasks
from fastweights.train.overrides import coerce, parse_dotted

DEMO_MODELS = "linear-transformer,deltanet,lstm"
OVERRIDES_HELP = ("Any config field can be set with a dotted flag: --model.KEY=VALUE, "
                  "--task.KEY=VALUE, --train.KEY=VALUE (see `fastweights models` and "
                  "`fastweights tasks` for the fields).")


def _train_options(p: argparse.ArgumentParser, steps: int, lr: float) -> None:
    p.add_argument("--steps", type=int, default=steps, help="training steps (default %(default)s)")
    p.add_argument("--lr", type=float, default=lr, help="peak AdamW learning rate "
                   "(default %(default)s; warm-up then cosine decay)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default %(default)s)")
    p.add_argument("--eval-every", type=int, default=100,
                   help="evaluate on the held-out set every N steps (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and data "
                   "(default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="intra-op threads per training process (default %(default)s)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastweights", description="Train, compare and inspect sequence models whose "
        "short-term memory lives in synapses (fast weights) or in activations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model on one task",
                       description="Train one model on one task; writes config.json, "
                       "metrics.jsonl and model.pt to the run folder.", epilog=OVERRIDES_HELP)
    p.add_argument("--model", default="deltanet", help="registry name of the model "
                   "(default %(default)s; see `fastweights models`)")
    p.add_argument("--task", default="assoc-retrieval", help="registry name of the task "
                   "(default %(default)s; see `fastweights tasks`)")
    _train_options(p, steps=2000, lr=3e-3)
    p.add_argument("--out", default=None, help="run folder (default runs/MODEL-TASK-sSEED)")

    p = sub.add_parser("compare", help="train several models on one task, print a table",
                       description="Train several models on one task at a matched parameter "
                       "budget, in parallel worker processes; print the results table and "
                       "write results.md and learning_curves.png to the output folder.",
                       epilog=OVERRIDES_HELP + " --model.KEY applies to every model.")
    p.add_argument("--models", default=DEMO_MODELS,
                   help="comma-separated registry names (default %(default)s)")
    p.add_argument("--task", default="assoc-retrieval", help="task (default %(default)s)")
    p.add_argument("--params", type=int, default=40_000, help="parameter budget per model; "
                   "each model's width is fitted to it (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="parallel training processes "
                   "(default %(default)s)")
    _train_options(p, steps=1000, lr=3e-3)
    p.add_argument("--out", default="runs/compare", help="output folder (default %(default)s)")

    sub.add_parser("models", help="list the models with their paper, parameters, state size",
                   description="List every registered model with its paper and, at its "
                   "default config, its parameter count and state size (floats per sequence).")
    sub.add_parser("tasks", help="list the tasks with their default config and an example",
                   description="List every registered task with its default config and one "
                   "example rendered as text.")
    p = sub.add_parser("bench", help="run a speed/memory benchmark (`fastweights bench ops`)",
                       description="Run a benchmark; `fastweights bench ops --help` lists its "
                       "options.", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help="benchmark name and its options")
    return parser


def _configs(args, rest: list[str], model_names: list[str]) -> tuple[dict, dict, object]:
    from fastweights.train.loop import TrainConfig

    dotted = parse_dotted(rest, ("model", "task", "train"))
    if args.task not in tasks.TASKS:
        raise ValueError(f"unknown task {args.task!r}; available: {', '.join(sorted(tasks.TASKS))}")
    task_cfg = coerce(tasks.TASKS[args.task].Config, dotted["task"], "task")
    model_cfg = {}
    for name in model_names:
        if name not in models.MODELS:
            raise ValueError(f"unknown model {name!r}; available: "
                             f"{', '.join(sorted(models.MODELS))}")
        model_cfg = coerce(models.MODELS[name].config, dotted["model"], "model")
    train_cfg = {"steps": args.steps, "lr": args.lr, "batch_size": args.batch_size,
                 "eval_every": args.eval_every, "seed": args.seed, "threads": args.threads}
    train_cfg |= coerce(TrainConfig, dotted["train"], "train")
    tasks.build(args.task, **task_cfg)  # fail on impossible task parameters before training
    for name in model_names:
        models.make_config(name, **model_cfg)
    return model_cfg, task_cfg, TrainConfig(**train_cfg)


def _list_models() -> None:
    print(f"{'model':<20} {'params':>8} {'state':>7}  paper")
    for name, spec in models.MODELS.items():
        m = models.build(name)
        print(f"{name:<20} {m.num_params():>8,} {m.state_size():>7,}  {spec.paper}")
    print("\nparams and state (floats per sequence) at the default config with the "
          "assoc-retrieval vocabulary; fields:")
    for name in models.MODELS:
        cfg = models.make_config(name)
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()))


def _list_tasks() -> None:
    for name, cls in tasks.TASKS.items():
        task = cls()
        x, y = task.sample(1, torch.Generator().manual_seed(0))
        cfg = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(task.config).items())
        print(f"{name}\n  config:  {cfg}\n  example: {task.render(x[0], y[0])}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "bench":
        from fastweights.bench import main as bench_main

        return bench_main(args.args + rest)
    if args.command in ("models", "tasks"):
        if rest:
            parser.error(f"unrecognised arguments: {' '.join(rest)}")
        _list_models() if args.command == "models" else _list_tasks()
        return 0
    names = [args.model] if args.command == "train" else args.models.split(",")
    try:
        model_cfg, task_cfg, train_cfg = _configs(args, rest, names)
    except ValueError as e:
        parser.error(str(e))
    if args.command == "train":
        from fastweights.train.loop import train

        out = args.out or f"runs/{args.model}-{args.task}-s{args.seed}"
        result = train(args.model, args.task, model_cfg, task_cfg, train_cfg, out=out)
        final = {k: round(v, 4) for k, v in result["final"].items() if k.startswith("test")}
        print(f"{args.model} on {args.task}: {result['params']:,} params, "
              f"{result['time']:.0f} s, {final}; run folder {out}")
    else:
        from fastweights.train.compare import compare

        compare(names, args.task, task_cfg, model_cfg, args.params, train_cfg,
                workers=args.workers, out=args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
