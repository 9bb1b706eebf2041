"""Update rules as pure functions: ``o, S = rule(q, k, v, ..., form=..., backend=...)``.

``RULES`` maps each rule's name to its declaration (``spec.Rule``: ``.fn`` the public
function, ``.forms`` {form: function}, ``.args``, ``.state``, ``.kernels``); every rule is
also an attribute (``fastweights.ops.delta_rule``). Rules are discovered: every module of
this package that defines ``RULE`` is one, so adding a rule is adding its module (see
``fastweights.ops.spec`` for how). ``delta_step`` is the one delta-rule write;
``debug(True)`` turns on value checks off the CPU (``checks``).
"""

import importlib
import pkgutil

from fastweights.ops.checks import debug
from fastweights.ops.delta_rule import delta_step
from fastweights.ops.spec import Rule

_INFRASTRUCTURE = {"backends", "checks", "chunking", "dispatch", "sampling", "spec", "table"}


def _discover() -> dict[str, Rule]:
    rules = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in _INFRASTRUCTURE:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            rules[rule.name] = rule
    return rules


RULES: dict[str, Rule] = _discover()
globals().update({name: rule.fn for name, rule in RULES.items()})

__all__ = ["RULES", "Rule", "debug", "delta_step", *RULES]
