"""Masse, Yang, Song, Wang & Freedman (2019): recurrent networks with short-term synaptic
plasticity can hold the sample of a delayed match-to-sample task in synaptic efficacy while
the sample cannot be decoded from their activity late in the delay ("activity-silent"
memory), and a task that demands manipulating the sample (DMRS: the match is the sample
rotated by 90°) brings the code back into activity.

Setting: ``stsp-rnn`` (100 units, 80 E / 20 I, half facilitating and half depressing
synapses, the paper's τ, U, noise and rate cost) on ``masse-dms`` and ``masse-dmrs``
(fixation 500, sample 500, delay 1000, test 500 ms; 8 directions, 24 tuned inputs), Adam
lr 2e-2 with each weight tensor's gradient clipped to norm 0.1, the authors' choices, and the
loss cross-entropy + 2e-2 · mean(h²). Five independently initialised networks per task,
trained side by side (``n_networks = 5``, each on its own trials). Our CPU budget forces
a smaller run than the authors' (dt 20 ms instead of 10; batch 64 × 500 steps instead of
1024 × 2000). After training, 512 held-out trials are run with the network's noise on (as
the authors' analyses do); the sample direction is decoded from the rates h and from the
efficacy u·x at every 40 ms (``fastweights.analysis.decoding``: 4-fold cross-validated
ridge classifier, 5 label shuffles for the null), and two perturbations are scored at test
onset: exchanging the synaptic state (x, u) across trials, or the rates h, and silencing
all rates (h = 0) over the last 100 ms of the delay.

Criterion, stated before the run (end of delay = its last 100 ms, trained = test accuracy
≥ 0.8; decoding averaged over the end-of-delay steps):
  (a) every trained DMS network decodes the sample from u·x with accuracy ≥ 0.9 at the
      end of the delay;
  (b) in at least half of the trained DMS networks the activity decodes at chance there:
      accuracy ≤ the shuffle null's 95th percentile + 0.05;
  (c) manipulation brings the code into activity: the mean end-of-delay activity decoding
      of the DMRS networks exceeds that of the DMS networks by ≥ 0.1.
(a), (b) and (c) → reproduced; (a) with (b) or (c) → partly reproduced; otherwise not.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from fastweights import models, tasks
from fastweights.analysis.decoding import (
    Decoding,
    decode_over_time,
    decoding_sources,
    perturbed_run,
    run_with_noise,
)
from fastweights.analysis.memory_plots import markdown_table
from fastweights.analysis.neuro_plots import plot_bars_with_points, plot_decoding_over_time
from fastweights.models.stsp import split_networks
from fastweights.reproduce.budget import Context
from fastweights.reproduce.report import CountedReport, Report, Reproduction, paper_vs_here

TASKS = {"DMS": "masse-dms", "DMRS90": "masse-dmrs"}
SEED = 0
LR, CLIP = 2e-2, 0.1
TRAINED = 0.8
END_MS = 100.0
SYN_MIN, CHANCE_MARGIN, MANIPULATION_GAP = 0.9, 0.05, 0.1


#: per scale: networks per task, dt (ms), training steps, batch per network, analysis trials,
#: decoding stride (steps) and label shuffles; ``paper`` is the authors' setting (20 networks,
#: dt 10 ms, 2000 steps of batch 1024)
BUDGETS = {
    "quick": {"networks": 5, "dt": 20.0, "steps": 3, "batch": 8, "trials": 64, "stride": 5,
              "shuffles": 1},
    "cpu": {"networks": 5, "dt": 20.0, "steps": 500, "batch": 64, "trials": 512, "stride": 2,
            "shuffles": 5},
    "paper": {"networks": 20, "dt": 10.0, "steps": 2000, "batch": 1024, "trials": 1024,
              "stride": 4, "shuffles": 10},
}


def train_population(task_name: str, seed: int, budget: dict) -> tuple[list, list[dict]]:
    """Train ``budget["networks"]`` independent ``stsp-rnn`` networks side by side (one population,
    each on its own trials) as the authors train theirs: Adam, each network's weight
    tensors' gradients clipped to norm ``CLIP`` one by one, the rate cost. Returns the
    networks as single models and the training log."""
    torch.manual_seed(seed)
    task = tasks.build(task_name, dt=budget["dt"])
    P = budget["networks"]
    model = models.build("stsp-rnn", tokens=False, input_size=task.input_size,
                         output_size=task.output_size, dt=budget["dt"], n_networks=P)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed)
    log = []
    for step in range(budget["steps"]):
        x, y = task.sample(budget["batch"] * P, g)
        out, _, inter = model(x, return_intermediates=True)
        task_loss = task.loss(out, y)
        # every trial has the same number of scored steps, so P × the mean over all rows
        # is the sum of the networks' own losses: each gets its own gradient
        loss = P * (task_loss + model.rate_loss(inter))
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                norms = p.grad.flatten(1).norm(dim=1).view(-1, *([1] * (p.dim() - 1)))
                p.grad.mul_((CLIP / (norms + 1e-6)).clamp(max=1))
        opt.step()
        if step % 50 == 0 or step == budget["steps"] - 1:
            log.append({"step": step, "loss": float(task_loss.detach()),
                        "rate": float(inter.h.detach().mean())})
    return split_networks(model), log


def _end_of_delay(task) -> tuple[int, int]:
    a, b = task.periods()["delay"]
    return b - round(END_MS / task.config.dt), b


def analyse_network(model: torch.nn.Module, task, budget: dict, seed: int) -> dict:
    """Accuracy, decoding curves and perturbation accuracies of one trained network."""
    trials = task.trials(budget["trials"], torch.Generator().manual_seed(10_000 + seed))
    torch.manual_seed(seed)
    out, _, inter = run_with_noise(model, trials.inputs)
    accuracy = task.metrics(out, trials.targets)["accuracy"]
    sources = decoding_sources(inter)
    stride = budget["stride"]
    steps = torch.arange(0, trials.inputs.shape[1], stride)
    curves = {}
    for name in ("activity", "synaptic efficacy"):
        d = decode_over_time(sources[name][:, ::stride], trials.sample, task.config.n_dirs,
                             n_shuffles=budget["shuffles"], steps=steps, seed=seed)
        curves[name] = {k: getattr(d, k).tolist() for k in
                        ("accuracy", "chance_mean", "chance_hi", "steps")}
    onset = task.periods()["test"][0]
    a, b = _end_of_delay(task)
    score = lambda y: task.metrics(y, trials.targets)["accuracy"]  # noqa: E731
    perturbed = {
        "none": score(perturbed_run(model, trials.inputs, onset, onset + 1, silence=(),
                                    seed=seed)),
        "shuffle synapses": score(perturbed_run(model, trials.inputs, onset, onset + 1,
                                                silence=(), shuffle=("x", "u"), seed=seed)),
        "shuffle activity": score(perturbed_run(model, trials.inputs, onset, onset + 1,
                                                silence=(), shuffle=("h",), seed=seed)),
        "silence activity": score(perturbed_run(model, trials.inputs, a, b, silence=("h",),
                                                seed=seed)),
    }
    return {"accuracy": accuracy, "curves": curves, "perturbed": perturbed,
            "mean_rate": float(inter.h.mean())}


def _one(args: tuple[str, str, dict, str]) -> list[dict]:
    label, task_name, budget, out = args
    path = Path(out) / f"{label}.json"
    if path.is_file():
        return json.loads(path.read_text())
    torch.set_num_threads(1)
    start = time.perf_counter()
    networks, log = train_population(task_name, SEED, budget)
    trained_s = time.perf_counter() - start
    task = tasks.build(task_name, dt=budget["dt"])
    results = []
    for i, net in enumerate(networks):
        results.append({"condition": label, "seed": SEED, "network": i,
                        **analyse_network(net, task, budget, i)})
        torch.save(net.state_dict(), Path(out) / f"{label}-net{i}.pt")
        print(f"  {label} network {i}: accuracy {results[-1]['accuracy']:.3f}", flush=True)
    for r in results:
        r["log"], r["train_seconds"] = log, trained_s
        r["seconds"] = time.perf_counter() - start
    path.write_text(json.dumps(results))
    print(f"  {label}: trained in {trained_s:.0f} s, analysed in "
          f"{time.perf_counter() - start - trained_s:.0f} s", flush=True)
    return results


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _window_mean(curve: dict, a: int, b: int, key: str = "accuracy") -> float:
    vals = [v for v, s in zip(curve[key], curve["steps"], strict=True) if a <= s < b]
    return sum(vals) / len(vals)


def verdict(results: list[dict], end: tuple[int, int]) -> tuple[str, dict]:
    """The pre-stated criterion on the networks' results."""
    a, b = end
    trained = [r for r in results if r["accuracy"] >= TRAINED]
    by = {c: [r for r in trained if r["condition"] == c] for c in TASKS}
    act = {c: [_window_mean(r["curves"]["activity"], a, b) for r in rs] for c, rs in by.items()}
    dms = by["DMS"]
    syn_ok = bool(dms) and all(
        _window_mean(r["curves"]["synaptic efficacy"], a, b) >= SYN_MIN for r in dms)
    silent = [_window_mean(r["curves"]["activity"], a, b)
              <= _window_mean(r["curves"]["activity"], a, b, "chance_hi") + CHANCE_MARGIN
              for r in dms]
    silent_ok = bool(dms) and sum(silent) >= len(dms) / 2
    gap = _mean(act["DMRS90"]) - _mean(act["DMS"])
    manip_ok = bool(act["DMRS90"]) and bool(act["DMS"]) and gap >= MANIPULATION_GAP
    if syn_ok and silent_ok and manip_ok:
        v = "reproduced"
    elif syn_ok and (silent_ok or manip_ok):
        v = "partly reproduced"
    else:
        v = "not reproduced"
    return v, {"syn_ok": syn_ok, "silent": sum(silent), "n_dms": len(dms),
               "silent_ok": silent_ok, "gap": gap, "manip_ok": manip_ok,
               "trained": {c: len(rs) for c, rs in by.items()}}


def run(ctx: Context) -> Report:
    budget = BUDGETS[ctx.scale]
    dt, workdir = budget["dt"], ctx.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = [(label, name, budget, str(workdir)) for label, name in TASKS.items()]
    for name in TASKS.values():  # the scale's settings are valid before anything runs
        task = tasks.build(name, dt=dt)
        models.make_config("stsp-rnn", tokens=False, input_size=task.input_size,
                           output_size=task.output_size, dt=dt, n_networks=budget["networks"])
    if ctx.report_only:
        missing = [j[0] for j in jobs if not (workdir / f"{j[0]}.json").is_file()]
        if missing:
            raise ValueError(f"--report needs finished runs: none for {missing} in {workdir}; "
                             f"run without --report first")
    with ProcessPoolExecutor(max_workers=max(1, ctx.workers)) as pool:
        per_task = list(pool.map(_one, jobs))
    results = [r for rs in per_task for r in rs]
    task = tasks.build("masse-dms", dt=dt)
    periods, end = task.periods(), _end_of_delay(task)
    v, c = verdict(results, end)
    figures = []
    for label in TASKS:
        rs = [r for r in results if r["condition"] == label]
        curves = {src: [Decoding(*(torch.tensor(r["curves"][src][k]) for k in
                                   ("accuracy", "chance_mean", "chance_hi", "steps")))
                        for r in rs] for src in ("activity", "synaptic efficacy")}
        figures.append(plot_decoding_over_time(
            curves, periods, workdir / f"activity-silent-decoding-{label}.png", dt=dt,
            title=f"{label}: decoding the sample direction ({len(rs)} networks)"))
    a, b = end
    figures.append(plot_bars_with_points(
        list(TASKS), {src: [[_window_mean(r["curves"][src], a, b) for r in results
                             if r["condition"] == label] for label in TASKS]
                      for src in ("activity", "synaptic efficacy")},
        workdir / "activity-silent-end-of-delay.png", "decoding accuracy, last 100 ms of delay",
        "Where the sample is held at the end of the delay", line=1 / task.config.n_dirs))
    rows = []
    for r in results:
        cur = r["curves"]
        rows.append([r["condition"], r["network"], r["accuracy"], r["mean_rate"],
                     _window_mean(cur["activity"], a, b),
                     _window_mean(cur["activity"], a, b, "chance_hi"),
                     _window_mean(cur["synaptic efficacy"], a, b),
                     r["perturbed"]["shuffle synapses"], r["perturbed"]["shuffle activity"],
                     r["perturbed"]["silence activity"]])
    table = markdown_table(
        ["task", "network", "test accuracy", "mean rate", "activity decoding (end of delay)",
         "null 95%", "u·x decoding (end of delay)", "acc., synapses shuffled",
         "acc., activity shuffled", "acc., activity silenced 100 ms"], rows)
    by_task = {label: [r for r in results if r["condition"] == label] for label in TASKS}
    perturbation = "; ".join(
        f"{label}: " + ", ".join(f"{kind} {_mean([r['perturbed'][kind] for r in rs]):.3f}"
                                 for kind in ("none", "shuffle synapses", "shuffle activity",
                                              "silence activity"))
        for label, rs in by_task.items())
    timing = ", ".join(
        f"{label} {next(r for r in results if r['condition'] == label)['seconds']:.0f} s"
        for label in TASKS)
    summary = (f"{c['silent']}/{c['n_dms']} trained DMS networks decode at chance from "
               f"activity at the end of the delay; u·x decoding ≥ {SYN_MIN} in all: "
               f"{c['syn_ok']}; DMRS90 − DMS end-of-delay activity decoding "
               f"{c['gap']:+.3f} (criterion ≥ {MANIPULATION_GAP}).")
    body = "\n\n".join([
        (__doc__ or "").split("\n\n", 1)[1].split("Criterion")[0].strip(),
        paper_vs_here([
            ("networks per task", "20", str(budget["networks"])),
            ("time step dt", "10 ms", f"{dt:g} ms"),
            ("training", "2000 steps of batch 1024", f"{budget['steps']} steps of batch "
                                                     f"{budget['batch']}"),
            ("decoder", "linear SVM, 20 splits 75/25, 25 trials per direction",
             "ridge classifier, 4-fold, all trials"),
            ("analysis trials", "1024", str(budget["trials"])),
        ], "Masse et al. 2019 (code)"),
        "## Criterion (stated before the run)\n\n" + "Criterion" +
        (__doc__ or "").split("Criterion", 1)[1].strip(),
        f"## Budget\n\nScale `{ctx.scale}`: {budget['networks']} networks per task (one "
        f"population of independently drawn networks, torch seed {SEED}), "
        f"{budget['steps']} training steps of batch {budget['batch']} per network, "
        f"{budget['trials']} analysis trials, decoding every "
        f"{budget['stride'] * dt:.0f} ms with {budget['shuffles']} label shuffles. Trained "
        f"networks (test accuracy ≥ {TRAINED}): {c['trained']}.",
        "## Results\n\n" + table,
        "Test accuracy under the perturbations, mean over each task's networks (state "
        "exchanged across trials at test onset, or rates silenced over the last 100 ms of "
        f"the delay): {perturbation}.",
        f"Training and analysis time of each task's population, recorded in its result file "
        f"when it ran (one process per task, one thread each; a rerun reuses the files): "
        f"{timing}.",
        "## Figures\n\n" + "\n\n".join(f"![{f.stem}]({f.name})" for f in figures),
    ])
    return CountedReport(v, summary, body, figures, runs=len(results),
                            seconds=sum(rs[0]["train_seconds"] for rs in per_task))


REPRODUCTION = Reproduction(
    name="activity-silent",
    paper="Masse, Yang, Song, Wang & Freedman 2019, Nat. Neurosci.",
    claim="With short-term synaptic plasticity, a delayed match-to-sample network holds the "
          "sample in synaptic efficacy while its activity decodes at chance late in the "
          "delay; a task demanding manipulation (DMRS) brings the code back into activity.",
    run=run,
)
