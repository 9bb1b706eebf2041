"""Benchmark of the update rules: every rule × form, forward and forward+backward, on CPU,
beside other projects' CPU implementations, in one process.

Run as ``fastweights bench ops --threads 2`` (``--csv out.csv`` also writes every timed row,
``--quick`` shrinks everything to seconds). It prints, in this order:

1. a header (machine, torch version, git commit, threads, shapes) and an estimate of the
   run time;
2. a correctness gate: every form of every rule against its recurrent reference (float64,
   outputs, final state and all gradients ≤ 1e-10 relative), and every peer's output
   against it (float32, ≤ 1e-4). A rule or peer whose gate fails gets no ratio: its rows
   say "correctness check failed";
3. times per call in two regimes, many small heads (B=64, H=4, K=V=16, T ∈ {128, 512}) and
   long sequences (B=2, H=4, K=V=64, T = 2048), with speed-ups over the recurrent form
   (the parallel form only up to T = 256);
4. peers side by side with our ``form="auto"`` at the same shapes: flash-linear-attention's
   pure-torch references, transformers' ``torch_chunk_gated_delta_rule`` and the
   native-torch chunkwise mLSTM of ``mlstm-kernels`` (``fastweights[bench]``, listed in
   ``bench.peers``), as peer time / our time (> 1: ours is faster);
5. the bar: delta_rule fwd+bwd at T=2048, chunk form vs recurrent form vs a straightforward
   chunkwise baseline (row-by-row triangular solve, autograd through it);
6. the chunk form's achieved GFLOP/s beside a plain 2048×2048 matmul in the same run;
7. peak memory of delta_rule chunk fwd+bwd at T=16384.

Every time is the minimum wall time over repetitions that are interleaved round-robin with
the other contenders of the same row, so that a change in machine load hits them alike.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from fastweights.bench import peers
from fastweights.ops import RULES, dispatch, sampling
from fastweights.ops.delta_rule import chunk_scan

N_H = 2  # Householder steps per token for delta_product_rule


@dataclass(frozen=True)
class Case:
    """One benchmarked configuration of a rule (``sampling.Case``) and its forms."""

    case: sampling.Case

    @property
    def label(self) -> str:
        return self.case.label

    @property
    def rule(self) -> str:
        return self.case.rule.name

    @property
    def forms(self) -> list[str]:
        # a per-key gate's parallel form costs T²·K memory: not a form one would run
        per_key = any(len(s.split()) == 4 and a.kind == "gate"
                      for a in self.case.rule.args
                      for s in [self.case.shapes.get(a.name, a.shapes[0])])
        return [f for f in self.case.rule.forms if not (per_key and f == "parallel")]

    def inputs(self, B: int, T: int, H: int, K: int, V: int, dtype: torch.dtype,
               seed: int = 0) -> list[torch.Tensor]:
        x = self.case.inputs(B=B, T=T, H=H, K=K, V=V, n_h=N_H, dtype=dtype, seed=seed,
                             initial_state=False)
        return list(x.values())

    def run(self, xs: list[torch.Tensor], form: str, **kw):
        return self.case.rule.fn(*xs, form=form, **self.case.options | kw)


CASES = [Case(c) for rule in RULES.values() for c in sampling.cases(rule)]


def naive_chunk_delta_rule(q, k, v, beta, *, scale, chunk_size=64, initial_state=None):
    """The baseline: a straightforward chunkwise delta rule in PyTorch (fla's naive form).

    Per chunk, T_c = (I + StrictTril(diag(β) K Kᵀ))⁻¹ is built row by row (forward
    substitution, one row per Python step, batched over all chunks), W = T_c diag(β) K,
    U = T_c diag(β) V, then a pass over chunks computes O = Q S + Tril(Q Kᵀ)(U − W S) and
    S ← S + Kᵀ(U − W S) (the state pass is ``delta_rule.chunk_scan``, the one chunk kernel's).
    Autograd differentiates through all of it.
    """
    B, T, H, K = q.shape
    C = chunk_size
    n = -(-T // C)
    pad = n * C - T

    def chunks(x):
        x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad)) if pad else x
        return x.transpose(1, 2).reshape(B, H, n, C, *x.shape[3:])

    q, k, v, beta = chunks(q), chunks(k), chunks(v), chunks(beta)[..., None]
    kb, vb = k * beta, v * beta
    attn = -(kb @ k.transpose(-1, -2)).tril(-1)
    for i in range(1, C):
        attn[..., i, :i] = attn[..., i, :i] + (attn[..., i, :, None].clone()
                                               * attn[..., :, :i].clone()).sum(-2)
    attn = attn + torch.eye(C, dtype=q.dtype)
    w, u = attn @ kb, attn @ vb
    S0 = q.new_zeros(B, H, K, v.shape[-1]) if initial_state is None else initial_state
    S_prev, u_new, S = chunk_scan(w, u, k, S0)
    o = scale * (q @ S_prev + (q @ k.transpose(-1, -2)).tril() @ u_new)
    return o.reshape(B, H, n * C, -1)[:, :, :T].transpose(1, 2), S


# --------------------------------------------------------------------------------------------
# correctness gate


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def _parts(state) -> list[torch.Tensor]:
    """A state's tensors: one, or each of a multi-tensor state (mLSTM's C, n, m)."""
    return list(state) if isinstance(state, tuple) else [state]


def _outputs_and_grads(fn: Callable, xs: list[torch.Tensor], s0):
    leaves = [x.clone().requires_grad_() for x in xs]
    s0_leaves = [s.clone().requires_grad_() for s in _parts(s0)]
    o, S = fn(leaves, tuple(s0_leaves) if isinstance(s0, tuple) else s0_leaves[0])
    gen = torch.Generator().manual_seed(2)
    loss = sum((x * torch.randn(x.shape, generator=gen, dtype=x.dtype)).sum()
               for x in [o, *_parts(S)])
    loss.backward()
    return [o, *_parts(S)] + [x.grad for x in leaves] + [s.grad for s in s0_leaves]


def gate(case: Case, form: str, fn: Callable | None = None, tol: float = 1e-10) -> float:
    """Worst relative error of ``form`` (or ``fn``) vs the recurrent reference, float64.

    Covers outputs, final state and the gradients of every input and the initial state, on
    a length that no chunk size divides. ``fn(xs, s0) -> (o, S)`` overrides the form.
    """
    xs = case.inputs(B=2, T=45, H=2, K=8, V=6, dtype=torch.float64)
    s0 = case.case.inputs(B=2, T=0, H=2, K=8, V=6, seed=1)["initial_state"]
    ref = _outputs_and_grads(lambda x, s0: case.run(x, "recurrent", initial_state=s0,
                                                    output_final_state=True), xs, s0)
    if fn is None:
        def fn(x, s0):
            return case.run(x, form, initial_state=s0, output_final_state=True, chunk_size=16)
    try:
        got = _outputs_and_grads(fn, xs, s0)
    except Exception:  # a form that crashes fails its gate
        return float("inf")
    errs = [_rel(a.detach(), b.detach()) for a, b in zip(got, ref, strict=True)
            if b is not None and a is not None]
    if any(a is None for a, b in zip(got, ref, strict=True) if b is not None):
        return float("inf")
    worst = max(errs)
    return worst if worst == worst else float("inf")  # NaN counts as a failure


def peer_gate(peer: peers.Peer, fn: Callable) -> float:
    """Relative error of a peer's output vs our recurrent reference (float32, T = 128)."""
    case = next(c for c in CASES  # the first case of a variant has default options
                if dispatch.variant(c.case.rule, c.inputs(1, 2, 1, 4, 4, torch.float32))
                == peer.variant)
    xs = peer_inputs(peer, case.inputs(B=2, T=128, H=2, K=16, V=16, dtype=torch.float32))
    with torch.no_grad():
        ref, _ = case.run(xs, "recurrent")
        try:
            got = fn(*xs)
        except Exception:  # a peer that crashes fails its gate
            return float("inf")
    err = _rel(got.float(), ref)
    return err if err == err else float("inf")


def peer_inputs(peer: peers.Peer, xs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Our inputs, restricted to the peer's domain where it is narrower (both run on them)."""
    return xs if peer.restrict is None else peer.restrict(xs)


# --------------------------------------------------------------------------------------------
# timing


def time_interleaved(fns: dict[str, Callable[[], object]], reps: int,
                     budget_s: float) -> dict[str, float]:
    """Minimum wall time of each function, timed round-robin so that a change in machine load
    (other processes on a shared machine) hits every contender of a ratio alike.

    One warm-up call each (kept as a sample when it took over half a second: slow calls need
    no warm-up), then up to ``reps`` rounds, stopping early once ``budget_s`` is spent.
    """
    samples: dict[str, list[float]] = {name: [] for name in fns}
    start = time.perf_counter()
    for name, fn in fns.items():
        t0 = time.perf_counter()
        fn()
        if (dt := time.perf_counter() - t0) > 0.5:
            samples[name].append(dt)
    for _ in range(reps):
        if time.perf_counter() - start > budget_s and all(samples.values()):
            break
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t0)
    return {name: min(ts) for name, ts in samples.items()}


def fwd_call(run: Callable, xs: list[torch.Tensor]) -> Callable[[], object]:
    def fwd():
        with torch.no_grad():
            run(xs)
    return fwd


def fwd_bwd_call(run: Callable, xs: list[torch.Tensor]) -> Callable[[], object]:
    """One forward and backward, seeded with a fixed dense cotangent dO (what a loss
    downstream sends back; ``o.sum()``'s is a stride-0 expansion, on which a batched
    matmul's backward loops over its matrices one by one)."""
    leaves = [x.clone().requires_grad_() for x in xs]
    cotangent = []

    def fwd_bwd():
        for x in leaves:
            x.grad = None
        o, _ = run(leaves)
        if not cotangent:
            gen = torch.Generator().manual_seed(3)
            cotangent.append(torch.randn(o.shape, generator=gen, dtype=o.dtype))
        o.backward(cotangent[0])
    return fwd_bwd


def delta_chunk_flops(B: int, T: int, H: int, K: int, V: int, C: int) -> float:
    """Forward FLOPs of the delta_rule chunk form as implemented (2 per multiply-add).

    Per chunk and head: D K Kᵀ and Q Kᵀ (C²K each), the unit-triangular inverse (C³/2),
    T_c [DK | DV] (C²(K+V)), W S, Kᵀ U', Q S (CKV each) and Tril(Q Kᵀ) U' (C²V).
    """
    C = min(C, T)
    n = -(-T // C)
    mac = 2 * C * C * K + C**3 / 2 + C * C * (K + V) + 3 * C * K * V + C * C * V
    return 2.0 * mac * n * B * H


# --------------------------------------------------------------------------------------------
# memory


_MEMORY_SCRIPT = """
import json, resource, sys, torch
import torch.nn.functional as F
from fastweights.ops import delta_rule
torch.set_num_threads({threads})
B, T, H, K, V, C = {B}, {T}, {H}, {K}, {V}, {C}
g = torch.Generator().manual_seed(0)
q = torch.randn(B, T, H, K, generator=g, requires_grad=True)
k = F.normalize(torch.randn(B, T, H, K, generator=g), dim=-1).requires_grad_()
v = torch.randn(B, T, H, V, generator=g, requires_grad=True)
beta = torch.rand(B, T, H, generator=g, requires_grad=True)
def peak_rss():
    # VmHWM, the peak resident set of this process image, in KiB; unlike ru_maxrss it is
    # not inherited from the parent across fork/exec
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
before = peak_rss()
saved = {{}}
def pack(t):
    saved[(t.untyped_storage().data_ptr(), t.dtype)] = t.untyped_storage().nbytes()
    return t
with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
    o, _ = delta_rule(q, k, v, beta, form="chunk", chunk_size=C)
o.sum().backward()
after = peak_rss()
print(json.dumps({{"rss_growth": (after - before) * 1024, "saved": sum(saved.values())}}))
"""


def peak_memory(B: int, T: int, H: int, K: int, V: int, C: int, threads: int) -> dict:
    """Peak RSS growth of one delta_rule chunk fwd+bwd (fresh process) and the bytes
    autograd saves for the backward."""
    script = _MEMORY_SCRIPT.format(B=B, T=T, H=H, K=K, V=V, C=C, threads=threads)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# report


def header(threads: int, shapes: str) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        repo = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo,
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=repo,
                               capture_output=True, text=True, check=True).stdout.strip()
        commit += " (uncommitted changes in src/)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return [
        "# fastweights bench ops",
        f"machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} "
        f"{platform.release()}",
        f"torch {torch.__version__}, python {platform.python_version()}, commit {commit}",
        f"threads: {threads} (torch.set_num_threads), dtype float32, {shapes}",
    ]


def _fmt_ms(t: float | None) -> str:
    return "—" if t is None else f"{t * 1e3:.1f}"


REGIMES = {"small": dict(B=64, H=4, K=16, V=16, lengths=[128, 512]),
           "large": dict(B=2, H=4, K=64, V=64, lengths=[2048])}
QUICK_REGIMES = {"small": dict(B=4, H=2, K=16, V=16, lengths=[128]),
                 "large": dict(B=1, H=2, K=32, V=32, lengths=[128])}


def auto_label(case: Case, xs: list[torch.Tensor], grad: bool) -> str:
    """``"auto → chunk/32"``: what ``form="auto"`` runs for these inputs."""
    rule = case.case.rule
    dims = {"T": xs[0].shape[1], "K": xs[0].shape[-1]}
    with torch.set_grad_enabled(grad):
        leaves = [x.requires_grad_(grad) if grad else x for x in (t.detach() for t in xs)]
        form, chunk = dispatch.auto_choice(rule, leaves, dims, 64)
    return f"auto → {form}" + (f"/{chunk}" if form == "chunk" else "")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fastweights bench ops", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--quick", action="store_true", help="tiny shapes; runs in seconds")
    parser.add_argument("--lengths", type=int, nargs="+", default=None,
                        help="sequence lengths for both regimes (default: 128 512 for small "
                             "heads, 2048 for large ones)")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions (minimum)")
    parser.add_argument("--chunk-size", type=int, default=64,
                        help="chunk size of the 'chunk' rows ('auto' takes its table's)")
    parser.add_argument("--shape", type=int, nargs=4, default=None, metavar=("B", "H", "K", "V"),
                        help="time one regime of this batch, heads, key and value size "
                             "instead of the two defaults")
    parser.add_argument("--rules", nargs="+", default=None,
                        help="benchmark only these rules (names as in fastweights.ops.RULES)")
    parser.add_argument("--regimes", nargs="+", choices=sorted(REGIMES), default=None,
                        help="only these shape regimes (default: both)")
    parser.add_argument("--csv", type=Path, default=None, help="also write every timed row")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    regimes = QUICK_REGIMES if args.quick else REGIMES
    regimes = {n: r for n, r in regimes.items() if args.regimes is None or n in args.regimes}
    if args.shape is not None:
        regimes = {"custom": dict(zip("BHKV", args.shape, strict=True),
                                  lengths=[256, 1024, 4096])}
    if args.quick:
        bar = dict(B=1, H=2, K=16, V=16)
        bar_T, mem_T, mm_n, reps, budget = 256, 1024, 256, 1, 2.0
    else:
        bar = dict(B=2, H=4, K=64, V=64)
        bar_T, mem_T, mm_n, reps, budget = 2048, 16384, 2048, args.reps, 20.0
    B, H, K, V = bar["B"], bar["H"], bar["K"], bar["V"]
    C = args.chunk_size
    cases = [c for c in CASES if args.rules is None or c.rule in args.rules]
    shapes = "; ".join(f"{n}: B={r['B']} H={r['H']} K={r['K']} V={r['V']} "
                       f"T={','.join(map(str, args.lengths or r['lengths']))}"
                       for n, r in regimes.items())
    lines = header(args.threads, f"{shapes}; chunk rows at chunk_size={C}")
    found = [(p, *peers.available(p)) for p in peers.PEERS
             if args.rules is None or p.variant.split(" (")[0] in args.rules]
    groups = sum(len(args.lengths or r["lengths"]) for r in regimes.values()) * (
        len(cases) + sum(fn is not None for _, fn, _ in found)) + 3
    lines.append(f"estimated run time: at most {groups * budget / 60:.0f} min (each of "
                 f"{groups} timed groups stops after {budget:.0f} s), plus the gates")
    print("\n".join(lines), flush=True)
    rows: list[dict] = []

    print("\n## Correctness gate (float64 vs the recurrent reference: o, S_T, all gradients)\n")
    print("| rule | form | worst rel. error | gate |\n|---|---|---|---|")
    ok: dict[tuple[str, str], bool] = {}
    for case in cases:
        for form in case.forms:
            if form == "recurrent":
                continue
            err = gate(case, form)
            ok[(case.label, form)] = err <= 1e-10
            print(f"| {case.label} | {form} | {err:.1e} | "
                  f"{'pass' if ok[(case.label, form)] else 'FAIL'} |", flush=True)
    delta = next(c for c in CASES if c.rule == "delta_rule")
    scale = K**-0.5

    def naive_fn(x, s0):
        return naive_chunk_delta_rule(*x, scale=x[0].shape[-1] ** -0.5, chunk_size=16,
                                      initial_state=s0)
    naive_err = gate(delta, "baseline", fn=naive_fn)
    ok[("baseline", "chunk")] = naive_err <= 1e-10
    print(f"| naive chunk baseline (delta_rule) | chunk | {naive_err:.1e} | "
          f"{'pass' if naive_err <= 1e-10 else 'FAIL'} |", flush=True)
    peer_ok = {}
    for peer, fn, why in found:
        if fn is None:
            print(f"| {peer.name} | peer | — | unavailable: {why} |")
            continue
        err = peer_gate(peer, fn)
        peer_ok[peer.name] = err <= 1e-4
        print(f"| {peer.name} | peer (fp32, output) | {err:.1e} | "
              f"{'pass' if peer_ok[peer.name] else 'FAIL'} |", flush=True)

    print("\n## Time per call, ms (min); speed-up = recurrent time / this form's time\n")
    print("| rule | regime | T | form | fwd | fwd+bwd | speed-up fwd | speed-up fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|")
    for case in cases:
        for regime, r in regimes.items():
            for T in args.lengths or r["lengths"]:
                xs = case.inputs(r["B"], T, r["H"], r["K"], r["V"], torch.float32)
                calls = {}
                # the quadratic form is for short sequences (a T×T solve per head)
                forms = [f for f in case.forms if not (f == "parallel" and T > 256)]
                forms.append("auto")
                for form in forms:
                    def run(x, form=form, case=case):
                        return case.run(x, form, **({"chunk_size": C} if form == "chunk"
                                                    else {}))
                    calls[(form, "fwd")] = fwd_call(run, xs)
                    calls[(form, "fwd+bwd")] = fwd_bwd_call(run, xs)
                t = time_interleaved(calls, reps, budget)
                rec = (t[("recurrent", "fwd")], t[("recurrent", "fwd+bwd")])
                for form in forms:
                    t_f, t_fb = t[(form, "fwd")], t[(form, "fwd+bwd")]
                    label = form if form != "auto" else \
                        f"{auto_label(case, xs, False)} / {auto_label(case, xs, True)[7:]}"
                    label = f"chunk/{C}" if form == "chunk" else label
                    if form == "recurrent":
                        s_f = s_fb = "1.0×"
                    elif not all(ok.get((case.label, f), True)
                                 for f in (case.forms if form == "auto" else [form])):
                        s_f = s_fb = "correctness check failed"
                    else:
                        s_f, s_fb = f"{rec[0] / t_f:.1f}×", f"{rec[1] / t_fb:.1f}×"
                    print(f"| {case.label} | {regime} | {T} | {label} | {_fmt_ms(t_f)} | "
                          f"{_fmt_ms(t_fb)} | {s_f} | {s_fb} |", flush=True)
                    rows.append(dict(section="forms", rule=case.label, regime=regime, T=T,
                                     impl=label, fwd_ms=1e3 * t_f, fwd_bwd_ms=1e3 * t_fb,
                                     ratio_fwd=rec[0] / t_f, ratio_fwd_bwd=rec[1] / t_fb))

    print("\n## Peers, ms (min), beside our form='auto' in the same process; × = peer time / "
          "ours (> 1: ours is faster)\n")
    print("| peer | rule | regime | T | ours fwd | peer fwd | × fwd | ours fwd+bwd | "
          "peer fwd+bwd | × fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    by_variant: dict[str, Case] = {}  # the first case of a variant has default options
    for c in CASES:
        by_variant.setdefault(dispatch.variant(c.case.rule, c.inputs(1, 2, 1, 4, 4,
                                                                     torch.float32)), c)
    for peer, fn, _ in found:
        case = by_variant.get(peer.variant)
        if fn is None or case is None or case not in cases:
            continue
        for regime, r in regimes.items():
            for T0 in args.lengths or r["lengths"]:
                T = -(-T0 // peer.multiple) * peer.multiple
                xs = peer_inputs(peer, case.inputs(r["B"], T, r["H"], r["K"], r["V"],
                                                   torch.float32))
                calls = {("ours", "fwd"): fwd_call(lambda x, case=case: case.run(x, "auto"), xs),
                         ("ours", "fwd+bwd"): fwd_bwd_call(
                             lambda x, case=case: case.run(x, "auto"), xs),
                         ("peer", "fwd"): fwd_call(lambda x, fn=fn: (fn(*x), None), xs)}
                backward = peer.backward_up_to is None or T <= peer.backward_up_to
                if backward:
                    calls[("peer", "fwd+bwd")] = fwd_bwd_call(lambda x, fn=fn: (fn(*x), None),
                                                              xs)
                t = time_interleaved(calls, reps, budget)
                t.setdefault(("peer", "fwd+bwd"), None)
                gated = peer_ok.get(peer.name) and all(
                    ok.get((case.label, f), True) for f in case.forms)
                x_f = t[("peer", "fwd")] / t[("ours", "fwd")]
                x_fb = t[("peer", "fwd+bwd")] / t[("ours", "fwd+bwd")] if backward else None
                fx = (f"{x_f:.2f}×", f"{x_fb:.2f}×" if backward else
                      f"not timed: {peer.backward_why}") if gated else \
                    ("correctness check failed",) * 2
                print(f"| {peer.name} | {case.label} | {regime} | {T} | "
                      f"{_fmt_ms(t[('ours', 'fwd')])} | {_fmt_ms(t[('peer', 'fwd')])} | {fx[0]} | "
                      f"{_fmt_ms(t[('ours', 'fwd+bwd')])} | {_fmt_ms(t[('peer', 'fwd+bwd')])} | "
                      f"{fx[1]} |", flush=True)
                peer_fb = t[("peer", "fwd+bwd")]
                rows.append(dict(section="peers", rule=case.label, regime=regime, T=T,
                                 impl=peer.name, fwd_ms=1e3 * t[("peer", "fwd")],
                                 fwd_bwd_ms=None if peer_fb is None else 1e3 * peer_fb,
                                 ratio_fwd=x_f, ratio_fwd_bwd=x_fb))

    print(f"\n## Bar: delta_rule fwd+bwd at T={bar_T} (B={B}, H={H}, K=V={K})\n")
    xs = delta.inputs(B, bar_T, H, K, V, torch.float32)
    runs = {
        "recurrent": lambda x: delta.run(x, "recurrent"),
        "chunk": lambda x: delta.run(x, "chunk", chunk_size=C),
        "naive chunk baseline": lambda x: naive_chunk_delta_rule(*x, scale=scale,
                                                                 chunk_size=C),
    }
    t = time_interleaved({name: fwd_bwd_call(fn, xs) for name, fn in runs.items()}, reps,
                         budget)
    print("| form | fwd+bwd ms | chunk speed-up over it |\n|---|---|---|")
    if ("delta_rule", "chunk") not in ok:  # --rules left delta_rule out of the table
        ok[("delta_rule", "chunk")] = gate(delta, "chunk") <= 1e-10
    gated_ok = all(ok[key] for key in [("delta_rule", "chunk"), ("baseline", "chunk")])
    for name, secs in t.items():
        speed = f"{secs / t['chunk']:.1f}×" if gated_ok else "correctness check failed"
        print(f"| {name} | {_fmt_ms(secs)} | {speed} |")
    if gated_ok:
        vs_rec, vs_naive = t["recurrent"] / t["chunk"], t["naive chunk baseline"] / t["chunk"]
        print(f"\nchunk vs recurrent: {vs_rec:.1f}× (bar ≥ 25×: "
              f"{'met' if vs_rec >= 25 else 'NOT met'}); chunk vs naive chunk baseline: "
              f"{vs_naive:.2f}× (bar ≥ 1×: {'met' if vs_naive >= 1 else 'NOT met'})"
              + (" [--quick shapes; the bar is for the full run]" if args.quick else ""))

    print("\n## Matmul throughput (forward pass of the delta_rule chunk form)\n")
    a, b = torch.randn(mm_n, mm_n), torch.randn(mm_n, mm_n)
    sizes = sorted({C, 32})
    fwd = {f"chunk/{c}": fwd_call(lambda x, c=c: delta.run(x, "chunk", chunk_size=c), xs)
           for c in sizes}
    # the kernel's own block products: one [C, K] × [K, V] matmul per (batch, head, chunk)
    n_blocks = {c: B * H * -(-bar_T // c) for c in sizes}
    blocks = {c: (torch.randn(n, c, K), torch.randn(n, K, V)) for c, n in n_blocks.items()}
    bmm = {f"blocks/{c}": lambda x=x, w=w: x @ w for c, (x, w) in blocks.items()}
    tm = time_interleaved(fwd | bmm | {"matmul": lambda: a @ b}, max(reps, 3), budget)
    mm = 2 * mm_n**3 / tm["matmul"] / 1e9
    print(f"plain {mm_n}×{mm_n} fp32 matmul: {mm:.1f} GFLOP/s")
    for c, (x, _) in blocks.items():
        rate = 2 * x.numel() * V / tm[f"blocks/{c}"] / 1e9
        print(f"the kernel's block products alone, {x.shape[0]} batched [{c}, {K}] × [{K}, {V}] "
              f"matmuls: {rate:.1f} GFLOP/s ({100 * rate / mm:.0f}% of the plain matmul)")
    for c in sizes:
        flops = delta_chunk_flops(B, bar_T, H, K, V, c)
        t_c = tm[f"chunk/{c}"]
        share = flops / t_c / 1e9 / mm
        print(f"delta_rule chunk forward, chunk_size={c}, T={bar_T}: {flops / 1e9:.2f} GFLOP "
              f"in {_fmt_ms(t_c)} ms = {flops / t_c / 1e9:.1f} GFLOP/s ({100 * share:.0f}% of "
              f"the matmul; target ≥ 45%: {'met' if share >= 0.45 else 'NOT met'})")
        rows.append(dict(section="matmul share", rule="delta_rule", regime="large", T=bar_T,
                         impl=f"chunk/{c}", fwd_ms=1e3 * t_c, ratio_fwd=share))

    print(f"\n## Memory: delta_rule chunk fwd+bwd at T={mem_T} (B={B}, H={H}, K=V={K})\n")
    mem = peak_memory(B, mem_T, H, K, V, C, args.threads)
    mib = 2.0**20
    inputs = 4 * B * mem_T * H * (2 * K + V + 1)
    per_chunk = 4 * B * H * -(-mem_T // C) * K * V
    per_step = 4 * B * H * mem_T * K * V
    print(f"peak RSS growth during fwd+bwd: {mem['rss_growth'] / mib:.0f} MiB")
    print(f"saved for backward: {mem['saved'] / mib:.0f} MiB; for scale: inputs "
          f"q, k, v, β {inputs / mib:.0f} MiB, one state per chunk {per_chunk / mib:.0f} MiB, "
          f"one state per step would be {per_step / mib:.0f} MiB")
    if args.csv is not None:
        fields = ["section", "rule", "regime", "T", "impl", "fwd_ms", "fwd_bwd_ms",
                  "ratio_fwd", "ratio_fwd_bwd"]
        with args.csv.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["threads", "commit", *fields])
            writer.writeheader()
            commit = lines[2].split("commit ", 1)[1]
            for row in rows:
                writer.writerow({"threads": args.threads, "commit": commit} | row)
        print(f"\nwrote {args.csv} ({len(rows)} rows)")
    return 0

