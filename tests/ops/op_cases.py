"""Helpers for the op tests: one input builder per rule and the comparison with the reference.

``VARIANTS`` names each rule configuration under test; ``make_inputs`` builds its arguments
(tiny shapes, l2-normalised keys for delta-type rules, as the layers always use) and
``call`` runs it, so one test body can cover every rule × form.
"""

import functools

import torch
import torch.nn.functional as F

from fastweights.ops import RULES

# variant → (rule name, extra keyword arguments, per-step tensors besides q, k, v)
VARIANTS = {
    "sum_rule": ("sum_rule", {}, ()),
    "sum_rule_normalized": ("sum_rule", {"normalize": True}, ()),
    "gated_sum_rule_scalar": ("gated_sum_rule", {}, ("g",)),
    "gated_sum_rule_per_key": ("gated_sum_rule", {}, ("g",)),
    "delta_rule": ("delta_rule", {}, ("beta",)),
    "gated_delta_rule": ("gated_delta_rule", {}, ("g", "beta")),
    "delta_product_rule": ("delta_product_rule", {}, ("beta",)),
}
N_H = 2  # Householder steps per token in the delta product tests


def forms_of(variant: str) -> list[str]:
    return [f for f in RULES[VARIANTS[variant][0]].forms if f != "recurrent"]


def make_inputs(variant: str, B: int = 2, T: int = 11, H: int = 2, K: int = 4, V: int = 3,
                dtype: torch.dtype = torch.float64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs for one variant, plus an ``initial_state`` [B, H, K, V (+1 if normalised)]."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    rule, extra, _ = VARIANTS[variant]
    steps = (B, T, N_H, H) if rule == "delta_product_rule" else (B, T, H)
    x = {"q": randn(B, T, H, K), "k": F.normalize(randn(*steps, K), dim=-1),
         "v": randn(*steps, V)}
    if extra.get("normalize"):
        # positive features, as a feature map gives, keep zᵀq away from 0
        x["q"], x["k"] = rand(B, T, H, K) + 0.1, rand(B, T, H, K) + 0.1
    if variant == "gated_sum_rule_per_key":
        x["g"] = F.logsigmoid(randn(B, T, H, K) + 2.0)
    elif "g" in VARIANTS[variant][2]:
        x["g"] = F.logsigmoid(randn(B, T, H) + 2.0)
    if "beta" in VARIANTS[variant][2]:
        x["beta"] = 0.05 + 1.9 * rand(*steps)
    x["initial_state"] = randn(B, H, K, V + 1 if extra.get("normalize") else V) * 0.5
    return {name: t.to(dtype) for name, t in x.items()}


def call(variant: str, inputs: dict[str, torch.Tensor], **kwargs):
    """Run the variant's public function on ``inputs`` (positional q, k, v, g?, beta?)."""
    rule, extra, per_step = VARIANTS[variant]
    args = [inputs[n] for n in ("q", "k", "v", *per_step)]
    kw = {"initial_state": inputs.get("initial_state")} | extra | kwargs
    return RULES[rule].fn(*args, **kw)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ (relative RMS error), 0 when both are 0."""
    a, b = a.double(), b.double()
    den = b.norm().item()
    return (a - b).norm().item() / den if den > 0 else (a - b).norm().item()


def tol(dtype: torch.dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-5


def outputs_and_grads(variant: str, inputs: dict[str, torch.Tensor], **kwargs):
    """o, S_T and the gradients of a fixed random loss of (o, S_T) w.r.t. every input."""
    leaves = {n: t.clone().requires_grad_() for n, t in inputs.items()}
    o, S = call(variant, leaves, output_final_state=True, **kwargs)
    gen = torch.Generator().manual_seed(1)
    w_o = torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.dtype)
    w_S = torch.randn(S.shape, generator=gen, dtype=torch.float64).to(S.dtype)
    ((o * w_o).sum() + (S * w_S).sum()).backward()
    return o.detach(), S.detach(), {n: t.grad for n, t in leaves.items()}


@functools.cache
def reference(variant: str, T: int, dtype: torch.dtype):
    """The recurrent reference's outputs and gradients, computed once per (variant, T, dtype)."""
    return outputs_and_grads(variant, make_inputs(variant, T=T, dtype=dtype), form="recurrent")


def assert_matches_reference(variant: str, T: int, dtype: torch.dtype, form: str,
                             chunk_size: int = 64) -> None:
    o_ref, S_ref, g_ref = reference(variant, T, dtype)
    o, S, grads = outputs_and_grads(variant, make_inputs(variant, T=T, dtype=dtype),
                                    form=form, chunk_size=chunk_size)
    assert o.dtype == dtype and S.shape == S_ref.shape
    errors = {"o": rel(o, o_ref), "S": rel(S, S_ref)}
    errors |= {f"d{n}": rel(grads[n], g_ref[n]) for n in g_ref}
    bad = {n: e for n, e in errors.items() if not e <= tol(dtype)}
    assert not bad, f"{variant} {form} T={T} C={chunk_size} {dtype}: {bad}"
