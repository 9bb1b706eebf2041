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

    lo, hi = 1, max_width // step
    if params(lo * step) > budget:
        raise ValueError(f"{name}: the smallest width ({lo * step}) has {params(lo * step)} "
                         f"parameters, over the budget of {budget}")
    # largest multiple m with params(m·step) <= budget, then pick the closer of m and m + 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if params(mid * step) <= budget else (lo, mid - 1)
    candidates = [lo * step] + ([(lo + 1) * step] if lo * step < max_width else [])
    return min(candidates, key=lambda w: (abs(params(w) - budget), w))
