"""Update rules as pure functions: ``o, S = rule(q, k, v, ..., form=...)``.

``RULES`` maps each rule's name to its public function and its implemented forms.
"""

from fastweights.ops import delta_rule as _delta
from fastweights.ops import sum_rule as _sum
from fastweights.ops.delta_rule import delta_rule
from fastweights.ops.sum_rule import sum_rule

RULES = {
    "sum_rule": {"fn": sum_rule, "forms": _sum.FORMS},
    "delta_rule": {"fn": delta_rule, "forms": _delta.FORMS},
}

__all__ = ["RULES", "delta_rule", "sum_rule"]
