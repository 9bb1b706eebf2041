"""``fastweights analyze decode RUN`` and ``fastweights analyze memory RUN``: look at where a
trained run keeps its memory. Both write PNGs (and a JSON of the numbers) into the run
folder and print what they wrote.

- ``decode``: for a task with labelled trials (``masse-dms``, ``masse-dmrs``), the
  cross-validated decoding accuracy of the sample over time from the model's activity and
  from its synapses (STSP efficacy u·x, or the fast weights / plastic traces), with the
  shuffled-label null, and the silencing test: task accuracy when the activity is set to
  zero over the last ``--silence-ms`` of the delay (models whose state names its activity).
- ``memory``: every per-step tensor that ``return_intermediates`` exposes on one test
  sequence, as heat maps: fast weights per head at evenly spaced steps, STPN traces, STSP
  efficacies and rates (unit × time), wave fields.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: per-step inputs of the memory (projections, gates), not drawn by ``memory``
SKIP = ("q", "k", "v", "beta", "g")


def decode(run_dir: Path, checkpoint: str = "best", trials: int = 512, stride: int = 2,
           shuffles: int = 5, silence_ms: float = 100.0, seed: int = 0) -> dict:
    """Decode the sample over time from a run's activity and synapses; write
    ``decode.png`` and ``decode.json`` into the run folder."""
    import torch

    from fastweights import load_run
    from fastweights.analysis.decoding import (
        ACTIVITY,
        decode_over_time,
        decoding_sources,
        perturbed_run,
        run_with_noise,
    )
    from fastweights.analysis.neuro_plots import plot_decoding_over_time
    from fastweights.models.state import ModelState

    run = load_run(run_dir, checkpoint=checkpoint)
    task, model = run.task, run.model
    if not hasattr(task, "trials") or not hasattr(task, "periods"):
        raise ValueError(f"analyze decode needs a task with labelled, timed trials "
                         f"(masse-dms, masse-dmrs); this run's task is {task.name!r}")
    data = task.trials(trials, torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    out, state, inter = run_with_noise(model, data.inputs)
    sources = decoding_sources(inter)
    if not sources:
        raise ValueError(f"{run_dir}: the model's intermediates expose no activity or "
                         f"synapses to decode from")
    steps = torch.arange(0, data.inputs.shape[1], stride)
    curves = {name: decode_over_time(f[:, ::stride], data.sample, task.config.n_dirs,
                                     n_shuffles=shuffles, steps=steps, seed=seed)
              for name, f in sources.items()}
    periods, dt = task.periods(), task.config.dt
    a, b = periods["delay"]
    a = max(a, b - round(silence_ms / dt))
    end = (steps >= a) & (steps < b)
    result = {"accuracy": task.metrics(out, data.targets)["accuracy"],
              "end_of_delay": {name: float(d.accuracy[end].mean()) for name, d in curves.items()},
              "null_95": {name: float(d.chance_hi[end].mean()) for name, d in curves.items()},
              "curves": {name: d.accuracy.tolist() for name, d in curves.items()},
              "steps": steps.tolist(), "dt": dt}
    silenced = [n for n in ACTIVITY if isinstance(state, ModelState) and n in state]
    if silenced:
        y = perturbed_run(model, data.inputs, a, b, silence=tuple(silenced), seed=seed)
        result["accuracy_silenced"] = task.metrics(y, data.targets)["accuracy"]
    fig = plot_decoding_over_time({n: [d] for n, d in curves.items()}, periods,
                                  run_dir / "decode.png", dt=dt,
                                  title=f"{run.experiment.model.name} on {task.name}: "
                                        f"decoding the sample")
    (run_dir / "decode.json").write_text(json.dumps(result, indent=1))
    print(f"test accuracy {result['accuracy']:.3f} on {trials} trials (noise on)")
    for name in curves:
        print(f"  {name:<18} decoding over the last {silence_ms:.0f} ms of the delay: "
              f"{result['end_of_delay'][name]:.3f} (shuffle null 95%: "
              f"{result['null_95'][name]:.3f})")
    if "accuracy_silenced" in result:
        print(f"  accuracy with the activity silenced then: {result['accuracy_silenced']:.3f}")
    print(f"wrote {fig} and {run_dir / 'decode.json'}")
    return result


def memory(run_dir: Path, checkpoint: str = "best", seed: int = 0,
           snapshots: int = 6) -> list[Path]:
    """Heat maps of every memory tensor the model exposes on one test sequence:
    ``memory-<field>.png`` in the run folder."""
    import torch

    from fastweights import load_run
    from fastweights.analysis.decoding import tensor_fields
    from fastweights.analysis.neuro_plots import plot_memory_field

    run = load_run(run_dir, checkpoint=checkpoint)
    x, _ = run.task.sample(1, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        result = run.model(x, return_intermediates=True)
    if len(result) < 3:
        raise ValueError(f"{run.experiment.model.name} exposes no intermediates")
    fields = {n: t for n, t in tensor_fields(result[2]).items()
              if t.dim() >= 3 and n.rsplit(".", 1)[-1] not in SKIP}
    if not fields:
        raise ValueError(f"{run.experiment.model.name}'s intermediates hold no per-step "
                         f"tensor to draw")
    paths = []
    for name, t in fields.items():
        path = run_dir / f"memory-{name.replace('.', '-')}.png"
        paths.append(plot_memory_field(name, t[0], path, snapshots,
                                       title=f"{run.experiment.model.name}: {name} "
                                             f"{list(t.shape[2:])} over {t.shape[1]} steps"))
        print(f"wrote {path}")
    return paths


def add_parser(sub) -> None:
    """Register ``analyze`` on the CLI's subparsers."""
    p = sub.add_parser("analyze", help="look inside a trained run's memory "
                       "(`decode`, `memory`)", description=__doc__.split("\n\n")[0])
    kinds = p.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS",
                             help="decode: where the sample is held; memory: heat maps")
    d = kinds.add_parser("decode", help="decode the sample over time from activity and "
                         "synapses; silencing test", description=decode.__doc__)
    m = kinds.add_parser("memory", help="heat maps of fast weights, traces, efficacies, "
                         "wave fields", description=memory.__doc__)
    for q in (d, m):
        q.add_argument("run_dir", type=Path, help="a run folder written by `fastweights "
                       "train`")
        q.add_argument("--checkpoint", choices=("best", "last"), default="best",
                       help="which weights to load (default %(default)s)")
        q.add_argument("--seed", type=int, default=0, help="seed of the test trials")
    d.add_argument("--trials", type=int, default=512, help="trials to decode from")
    d.add_argument("--stride", type=int, default=2, help="decode every N-th step")
    d.add_argument("--shuffles", type=int, default=5, help="label shuffles for the null")
    d.add_argument("--silence-ms", type=float, default=100.0,
                   help="end-of-delay window (ms) for the summary and the silencing test")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.analysis == "decode":
        decode(args.run_dir, args.checkpoint, args.trials, args.stride, args.shuffles,
               args.silence_ms, args.seed)
    else:
        memory(args.run_dir, args.checkpoint, args.seed)
    return 0
