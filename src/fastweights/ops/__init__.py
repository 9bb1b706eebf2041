"""Update rules as pure functions: ``o, S = rule(q, k, v, ..., form=...)``.

``RULES`` maps each rule's name to its public function and its implemented forms
(``{"recurrent": fn, "parallel": fn, "chunk": fn}``; the recurrent one is the reference).
"""

from fastweights.ops import delta_product_rule as _delta_product
from fastweights.ops import delta_rule as _delta
from fastweights.ops import gated_delta_rule as _gated_delta
from fastweights.ops import gated_sum_rule as _gated_sum
from fastweights.ops import sum_rule as _sum
from fastweights.ops.delta_product_rule import delta_product_rule
from fastweights.ops.delta_rule import delta_rule, delta_step
from fastweights.ops.gated_delta_rule import gated_delta_rule
from fastweights.ops.gated_sum_rule import gated_sum_rule
from fastweights.ops.sum_rule import sum_rule

RULES = {
    "sum_rule": {"fn": sum_rule, "forms": _sum.FORMS},
    "gated_sum_rule": {"fn": gated_sum_rule, "forms": _gated_sum.FORMS},
    "delta_rule": {"fn": delta_rule, "forms": _delta.FORMS},
    "gated_delta_rule": {"fn": gated_delta_rule, "forms": _gated_delta.FORMS},
    "delta_product_rule": {"fn": delta_product_rule, "forms": _delta_product.FORMS},
}

__all__ = ["RULES", "delta_product_rule", "delta_rule", "delta_step", "gated_delta_rule",
           "gated_sum_rule", "sum_rule"]
