"""The ``fastweights`` command: train, resume, evaluate, compare, sweep, list, benchmark."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from fastweights import analyze, models, sampling, tasks
from fastweights.reproduce import command as reproduce_command

DEMO_MODELS = "linear-transformer,deltanet,lstm"
OVERRIDES_HELP = ("Any config field can be set with a dotted flag: --model.KEY=VALUE, "
                  "--task.KEY=VALUE, --train.KEY=VALUE (`fastweights models` and "
                  "`fastweights tasks` list the fields).")


def _train_options(p: argparse.ArgumentParser, steps: int | None) -> None:
    p.add_argument("--steps", type=int, default=steps, help="training steps" +
                   (" (default %(default)s)" if steps else " (default: train.steps)"))
    p.add_argument("--lr", type=float, help="peak AdamW learning rate; warm-up then cosine "
                   "decay (default: train.lr, 3e-3)")
    p.add_argument("--batch-size", type=int, help="global batch size (default 64)")
    p.add_argument("--eval-every", type=int,
                   help="evaluate on the held-out sets every N steps (default 100)")
    p.add_argument("--seed", type=int, help="seed of weights and data (default 0)")
    p.add_argument("--threads", type=int, help="intra-op threads per training process "
                   "(default 1)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"),
                   help="where to train (default auto: CUDA when available)")
    p.add_argument("--precision", choices=("fp32", "bf16"), help="bf16: autocast the "
                   "forward pass and loss to bfloat16, CUDA only (default fp32)")
    p.add_argument("--compile", action="store_true", default=None,
                   help="time eager and torch.compile'd steps, train on with the faster "
                        "(needs a C++ compiler on CPU)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastweights", description="Train, compare and inspect sequence models whose "
        "short-term memory lives in synapses (fast weights) or in activations.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model on one task (or resume a run)",
                       description="Train one model on one task; the run folder gets "
                       "config.json, metrics.jsonl, checkpoints and result.json. Also runs "
                       "under `torchrun --nproc-per-node N -m fastweights train ...`.",
                       epilog=OVERRIDES_HELP + " Example: fastweights train "
                       "examples/experiment.toml --train.steps=300")
    p.add_argument("config", nargs="?", help="optional TOML experiment file with [model], "
                   "[task] and [train] tables (flags override it)")
    p.add_argument("--model", help="registry name of the model (default deltanet; "
                   "see `fastweights models`)")
    p.add_argument("--task", help="registry name of the task (default assoc-retrieval; "
                   "see `fastweights tasks`)")
    _train_options(p, steps=None)
    p.add_argument("--out", help="run folder (default runs/MODEL-TASK-lrLR-STEPS-sSEED-HASH, "
                   "HASH: of the whole experiment)")
    p.add_argument("--overwrite", action="store_true", help="replace a run folder that holds "
                   "another experiment (refused otherwise)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its "
                   "last good checkpoint, with its saved config; --steps, --eval-every, "
                   "--threads and --train.{target,device,tensorboard} may change (recorded in "
                   "config.json), other options are refused")

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
    _train_options(p, steps=1000)
    p.add_argument("--out", default="runs/compare", help="output folder (default %(default)s)")

    p = sub.add_parser("sweep", help="run a grid of models x tasks x lrs x seeds",
                       description="Run the grid of a TOML sweep file in parallel worker "
                       "processes, skipping finished runs and resuming unfinished ones; write "
                       "results.md, results.csv and plots; with --ray, on a Ray cluster. "
                       "The file format: examples/sweep.toml and fastweights.train.sweep.",
                       epilog="Example: fastweights sweep examples/sweep.toml")
    p.add_argument("file", help="TOML sweep file")
    p.add_argument("--workers", type=int, help="override the file's worker count")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run each run as a Ray task on the cluster at ADDRESS (`auto`: the "
                   "running one; no ADDRESS: a local one); `out` must be a shared folder "
                   "(needs pip install 'fastweights[ray]')")

    p = sub.add_parser("eval", help="evaluate a trained run, e.g. on longer sequences",
                       description="Evaluate a run's checkpoint on its task's held-out sets; "
                       "--task.KEY=VALUE flags change the task (e.g. longer test lengths).",
                       epilog="Example: fastweights eval runs/x --task.n_pairs=8")
    p.add_argument("run_dir", help="a run folder written by `fastweights train`")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="which weights to load (default %(default)s)")

    p = sub.add_parser("reproduce", help="reproduce a published claim, one command each",
                       description="Run the experiment behind a published claim, compare the "
                       "outcome with the claim and write docs/results/NAME.md with its table, "
                       "plots, command, budget and verdict. Finished runs are reused, killed "
                       "ones resumed.")
    reproduce_command.add_arguments(p)

    p = sub.add_parser("models", help="list the models with their paper, parameters, state "
                       "size", description="List every registered model with its paper and, at "
                       "its default config, its parameter count and state size (floats per "
                       "sequence).")
    p.add_argument("--variants", action="store_true", help="list each model's versions of "
                   "its authors' code instead (the config overrides that select them)")
    sub.add_parser("tasks", help="list the tasks with their default config and an example",
                   description="List every registered task with its default config and one "
                   "example rendered as text.")
    p = sub.add_parser("bench", help="run a speed/memory benchmark (`fastweights bench ops`)",
                       description="Run a benchmark; `fastweights bench ops --help` lists its "
                       "options.", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER, help="benchmark name and its options")
    analyze.add_parser(sub)
    sub.add_parser("rules", help="list the update rules: recurrence, paper, arguments with "
                   "domains, state, forms, backends", add_help=False,
                   description="List every update rule of fastweights.ops from its "
                   "declaration; `fastweights rules --help` lists the options.")
    sub.add_parser("rl", help="train a recurrent agent with A2C/PPO (`fastweights rl -h`)",
                   description="Train a recurrent agent on an environment; `fastweights rl "
                   "--help` lists the options.", add_help=False).add_argument(
                       "args", nargs=argparse.REMAINDER, help="the options of `fastweights rl`")
    sampling.add_parsers(sub)
    return parser


def _flags(args, rest: list[str]) -> dict[str, dict[str, str]]:
    """Dotted overrides, with the --steps/--lr/... shortcuts in the train section."""
    from fastweights.train import config

    flags = config.parse_dotted(rest)
    shortcuts = {"steps": args.steps, "lr": args.lr, "batch_size": args.batch_size,
                 "eval_every": args.eval_every, "seed": args.seed, "threads": args.threads,
                 "device": args.device, "precision": args.precision, "compile": args.compile}
    flags["train"] = {k: str(v) for k, v in shortcuts.items() if v is not None} | flags["train"]
    return flags


def _experiment(args, rest: list[str], model: str | None):
    from fastweights.train import config

    file = config.read_toml(args.config) if getattr(args, "config", None) else None
    exp = config.resolve(file, _flags(args, rest), model=model, task=args.task)
    return config.capped(exp)


def _list_models() -> None:
    print(f"{'model':<20} {'params':>8} {'state':>9}  paper")
    for name, spec in models.MODELS.items():
        m = models.build(name)
        state = f"{m.state_size():,}" + ("/tok" if m.state_grows else "")
        print(f"{name:<20} {m.num_params():>8,} {state:>9}  {spec.paper}")
    print("\nparams and state (floats per sequence; /tok: a KV cache, per token seen) at the "
          "default config; config fields:")
    for name in models.MODELS:
        cfg = models.make_config(name)
        print(f"  {name}: " + ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(cfg).items()))
    print("\n`fastweights models --variants` lists the versions of the authors' code per model.")


def default_run_dir(exp) -> Path:
    """``runs/<run name>`` (``fastweights.train.naming``): runs of other settings never
    share it."""
    from fastweights.train.naming import run_name

    return Path("runs") / run_name(exp)


def _resumed(args, rest):
    """The saved experiment of ``--resume DIR`` with the overrides that may change."""
    from fastweights.train.config import load_experiment
    from fastweights.train.fields import convert
    from fastweights.train.shell import RESUMABLE

    if args.config or args.model or args.task:
        given = "a config file" if args.config else "--model" if args.model else "--task"
        raise ValueError(f"--resume continues a run with its saved config; {given} cannot "
                         f"be given with it")
    exp = load_experiment(args.resume)
    flags = _flags(args, rest)
    for section in ("model", "task"):
        if flags[section]:
            raise ValueError(f"--resume cannot change {section}.{next(iter(flags[section]))}: "
                             f"that is another experiment (start a new run with --out)")
    refused = [k for k in flags["train"] if k not in RESUMABLE]
    if refused:
        raise ValueError(f"--resume cannot change train.{refused[0]}: that is another "
                         f"experiment (start a new run with --out); it can change "
                         f"{', '.join('train.' + k for k in RESUMABLE)}")
    from fastweights.train.config import TrainConfig

    changes = convert(TrainConfig, flags["train"], "train", text=True)
    return dataclasses.replace(exp, train=dataclasses.replace(exp.train, **changes))


def _train(args, rest, parser) -> int:
    from fastweights.train import distributed
    from fastweights.train.supervised import train

    if args.resume:
        exp, out = _resumed(args, rest), Path(args.resume)
    else:
        exp = _experiment(args, rest, args.model)
        out = Path(args.out) if args.out else default_run_dir(exp)
    result = train(exp, out=out, resume=bool(args.resume), overwrite=args.overwrite)
    if distributed.setup(exp.train.device).is_main:
        final = {k: round(v, 4) for k, v in result["final"].items() if k.startswith("test")}
        print(f"{exp.model.name} on {exp.task.name}: {result['params']:,} params, "
              f"{result['steps']} steps, {result['time']:.0f} s, {final}; run folder {out}")
    distributed.teardown()
    return 0


def _eval(args, rest, parser) -> int:
    import torch

    from fastweights.train.config import parse_dotted
    from fastweights.train.load import load_run
    from fastweights.train.supervised import evaluate

    flags = parse_dotted(rest)
    if flags["model"] or flags["train"]:
        parser.error("eval takes only --task.KEY=VALUE overrides")
    run = load_run(args.run_dir, args.checkpoint, task=flags["task"], text=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(run.experiment.train.threads)
    try:
        metrics = evaluate(run.model, run.task)
    finally:
        torch.set_num_threads(threads)
    task_cfg = dataclasses.asdict(run.task.config)
    print(f"{run.experiment.model.name} on {run.experiment.task.name} ({args.checkpoint} "
          f"checkpoint, step {run.step}), task config {task_cfg}:")
    for k, v in metrics.items():
        print(f"  {k:<28} {v:.4f}")
    return 0


def _check_bench_args(argv: list[str]) -> None:
    """Bad values of ``bench ops`` options, as one-line errors before it starts."""
    if not argv or argv[0] != "ops":
        return
    p = argparse.ArgumentParser(add_help=False)
    for flag in ("--lengths", "--rules"):
        p.add_argument(flag, nargs="+")
    for flag in ("--threads", "--reps", "--chunk-size"):
        p.add_argument(flag)
    known, _ = p.parse_known_args(argv[1:])
    for flag in ("threads", "reps", "chunk_size"):
        value = getattr(known, flag)
        if value is not None and not (value.lstrip("-").isdigit() and int(value) >= 1):
            raise ValueError(f"bench ops --{flag.replace('_', '-')} must be an integer >= 1, "
                             f"got {value!r}")
    bad = [v for v in known.lengths or [] if not (v.lstrip("-").isdigit() and int(v) >= 1)]
    if bad:
        raise ValueError(f"bench ops --lengths must be integers >= 1, got {' '.join(bad)}")
    if known.rules:
        from fastweights.ops import RULES

        unknown = [r for r in known.rules if r not in RULES]
        if unknown:
            raise ValueError(f"bench ops --rules: unknown rule(s) {', '.join(unknown)}; "
                             f"rules: {', '.join(sorted(RULES))}")


# the commands that train or time models: they keep freed memory for reuse (train.allocator)
LONG_RUNNING = ("train", "eval", "compare", "sweep", "reproduce", "rl", "bench")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    os.environ.setdefault("MPLBACKEND", "Agg")  # plots go to files; a user's choice wins
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if getattr(args, "command", None) in LONG_RUNNING:
        from fastweights.train.allocator import keep_freed_memory

        keep_freed_memory()
    if hasattr(args, "run_command"):
        return sampling.run_command(args, rest, parser)
    if args.command == "rules":
        from fastweights.ops.table import main as rules_main

        return rules_main(rest)
    if args.command == "rl":
        from fastweights.train.rl import cli as rl_cli

        return rl_cli(argv[argv.index("rl") + 1:])
    if args.command in ("models", "tasks", "sweep", "analyze") and rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    from fastweights.train.errors import InvalidFile, RunError

    try:
        if args.command == "bench":
            from fastweights.bench import main as bench_main

            _check_bench_args(args.args + rest)
            if "--quick" not in args.args + rest and args.args[:1] == ["ops"]:
                print("bench ops: the full run takes tens of minutes on a small CPU "
                      "(--quick: seconds, tiny shapes)", file=sys.stderr, flush=True)
            return bench_main(args.args + rest)
        if args.command == "analyze":
            return args.handler(args)
        if args.command == "models":
            if args.variants:
                print(models.cell.describe_variants())
            else:
                _list_models()
        elif args.command == "tasks":
            print(tasks.describe_all())
        elif args.command == "train":
            return _train(args, rest, parser)
        elif args.command == "eval":
            return _eval(args, rest, parser)
        elif args.command == "reproduce":
            return reproduce_command.main(args, rest, parser)
        elif args.command == "sweep":
            from fastweights.train.sweep import Sweep, run_sweep

            sweep = Sweep.from_file(args.file)
            if args.workers is not None:
                sweep.workers = args.workers
            run_sweep(sweep, ray=args.ray)
        else:
            from fastweights.train.compare import compare
            from fastweights.train.config import model_config_class
            from fastweights.train.fields import convert

            names = args.models.split(",")
            exps = [_experiment(args, rest, name) for name in names]  # each one valid
            shared = convert(model_config_class(names[0]), _flags(args, rest)["model"],
                             "model", text=True)
            compare(names, args.task, exps[0].task.fields(), shared, args.params,
                    exps[0].train, workers=args.workers, out=args.out)
    except InvalidFile as e:
        print(f"fastweights: error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:
        parser.error(str(e))
    except (RunError, KeyboardInterrupt) as e:
        print(f"fastweights: {'interrupted' if isinstance(e, KeyboardInterrupt) else 'error'}"
              f"{': ' + str(e) if str(e) else ''}", file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
