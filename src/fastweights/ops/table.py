"""The rules table, generated from the declarations: ``fastweights rules`` prints it for this
machine (which backends can run here); ``--markdown`` writes ``docs/rules.md``."""

from __future__ import annotations

import argparse

import torch

from fastweights.ops.backends import fla
from fastweights.ops.spec import Arg, Rule


def _shape(s: str) -> str:
    return "[" + ", ".join(s.split()) + "]"


def _arg(a: Arg) -> tuple[str, str, str, str]:
    domain = a.domain.describe(a.name) + (", ℓ2-normalised" if a.unit_norm else "")
    return (a.name, " or ".join(_shape(s) for s in a.shapes), domain, f"{a.neutral:g}")


def _forms(rule: Rule) -> str:
    return ", ".join(f + (" (reference)" if f == "recurrent" else "") for f in rule.forms)


def _backends(rule: Rule, here: bool) -> str:
    parts = ["torch"]
    for name, kernels in rule.kernels.items():
        text = f"{name} ({', '.join(kernels)})"
        if here and name == "fla":
            device = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
            reason = fla.unavailable(device)
            text += f": {'available' if reason is None else 'not here, ' + reason}"
        parts.append(text)
    return "; ".join(parts)


def text(rules: dict[str, Rule]) -> str:
    """Every rule with its recurrence, paper, per-step arguments (shape, domain, neutral
    value), state, options, forms and the backends that can run on this machine."""
    lines = []
    for rule in rules.values():
        lines += [f"{rule.name} — {rule.paper}", f"  {rule.recurrence}", "  arguments:"]
        rows = [(n, s, d, f"neutral {z}", a.doc) for a in rule.args
                for n, s, d, z in [_arg(a)]]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        for r in rows:
            cells = [c.ljust(w) for c, w in zip(r[:4], widths, strict=True)]
            lines.append("    " + "  ".join([*cells, r[4]]))
        for st in rule.state:
            lines.append(f"  state: {st.name} {_shape(st.shape)}  {st.doc}")
        for o in rule.options:
            lines.append(f"  option: {o.name}={o.default!r}  {o.doc}")
        lines += [f"  forms: {_forms(rule)}", f"  backends: {_backends(rule, here=True)}", ""]
    return "\n".join(lines).rstrip() + "\n"


def markdown(rules: dict[str, Rule]) -> str:
    """``docs/rules.md``: the same, without what depends on the machine."""
    out = ["# Update rules", "",
           "Generated from the `RULE` declarations in `src/fastweights/ops/` by "
           "`fastweights rules --markdown > docs/rules.md` (a test checks that this file "
           "matches). Layout and conventions: `fastweights.ops.spec`; read after write: "
           "o_t = scale · S_tᵀ q_t, scale = K^-1/2 by default.", "",
           "| rule | recurrence | paper | state | forms | backends |",
           "|---|---|---|---|---|---|"]
    for r in rules.values():
        state = "; ".join(f"{s.name} {_shape(s.shape)}" for s in r.state)
        out.append(f"| `{r.name}` | {r.recurrence} | {r.paper} | {state} | {_forms(r)} | "
                   f"{_backends(r, here=False)} |")
    for r in rules.values():
        out += ["", f"## `{r.name}`", "", f"{r.recurrence}", "",
                "| argument | shape | domain | neutral | meaning |", "|---|---|---|---|---|"]
        out += [f"| `{n}` | {s} | {d} | {z} | {a.doc} |" for a in r.args
                for n, s, d, z in [_arg(a)]]
        for st in r.state:
            out.append(f"\nState `{st.name}` {_shape(st.shape)}: {st.doc}.")
        for o in r.options:
            out.append(f"\nOption `{o.name}={o.default!r}`: {o.doc}.")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="fastweights rules", description="Print every update rule of fastweights.ops: "
        "recurrence, paper, per-step arguments with domains and neutral values, state shapes, "
        "options, forms and the backends available on this machine.")
    parser.add_argument("--markdown", action="store_true",
                        help="print the docs/rules.md table instead")
    args = parser.parse_args(argv)
    from fastweights.ops import RULES

    print(markdown(RULES) if args.markdown else text(RULES), end="")
    return 0
