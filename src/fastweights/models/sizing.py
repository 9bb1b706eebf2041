"""Size a model to a parameter budget by choosing its width, as papers that compare memory
mechanisms at equal parameter counts do (e.g. ~2k parameters each in the STPN paper)."""

from __future__ import annotations

from fastweights import models

WIDTH_FIELD = "d_model"


def fit_width(name: str, budget: int, max_width: int = 4096, **config) -> int:
    """The ``d_model`` whose parameter count is closest to ``budget`` (ties: the smaller).

    Widths are multiples of ``n_heads`` when the model has heads. Raises ValueError when
    even the smallest width exceeds the budget.
    """
    base = models.make_config(name, **config)
    step = getattr(base, "n_heads", 1)

    def params(width: int) -> int:
        return models.build(name, **(config | {WIDTH_FIELD: width})).num_params()

    if params(step) > budget:
        raise ValueError(f"{name}: the smallest width ({step}) has {params(step)} "
                         f"parameters, over the budget of {budget}")
    # double until over budget (never building models far larger than it), then bisect for
    # the largest multiple m with params(m·step) <= budget; pick the closer of m and m + 1
    lo, hi = 1, 2
    while hi * step <= max_width and params(hi * step) <= budget:
        lo, hi = hi, 2 * hi
    hi = min(hi, max_width // step + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if params(mid * step) <= budget else (lo, mid)
    candidates = [lo * step] + ([(lo + 1) * step] if (lo + 1) * step <= max_width else [])
    return min(candidates, key=lambda w: (abs(params(w) - budget), w))
