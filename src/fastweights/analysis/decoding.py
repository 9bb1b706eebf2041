"""Where is the memory? Cross-validated linear decoding of a trial variable over time, from
neural activity and from synapses, with shuffle controls and perturbations (after Masse,
Yang, Song, Wang & Freedman 2019 and Stokes 2015's activity-silent working memory).

Decoder: at each time step t, a ridge-regression classifier on one-hot labels (features
z-scored with the training fold's mean and spread, weights W = (XᵀX + λn I)⁻¹ XᵀY, or the
dual form Xᵀ(XXᵀ + λn I)⁻¹Y when there are more features than trials, prediction argmax),
scored by k-fold cross-validation with folds stratified by label. Chance is measured, not
assumed: the same decoder on labels shuffled across trials (``n_shuffles`` times) gives a
null distribution per step.

Differences from the authors' analysis code: they use a linear SVM (scikit-learn ``SVC``,
C = 1) on min-max-normalised features with 20 random 75/25 splits resampled to 25 trials
per condition; here a ridge classifier with k-fold splits (no scikit-learn dependency,
solved for all steps at once).

Sources (``decoding_sources``): "activity" is every rate / hidden-state field of a model's
intermediates (``h``, ``c``); "synaptic efficacy" the STSP efficacy u·x; "fast weights"
every other per-step matrix (a fast-weight trajectory S_t, STPN's trace F, Ba's A, Miconi's
Hebbian trace, a wave field), flattened.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fastweights.models.state import ModelState

ACTIVITY = ("h", "c", "field")  # rates, hidden and cell states, wave fields
#: per-step projections and scalars that are inputs to the memory, not memory
NOT_MEMORY = ("q", "k", "v", "beta", "g", "energy", "modulation", "syn_x", "syn_u",
              "attention", "attn")


@dataclass
class Decoding:
    """Decoding accuracy per step [T] and its shuffle null (mean and 95th percentile)."""

    accuracy: Tensor
    chance_mean: Tensor
    chance_hi: Tensor
    steps: Tensor  # [T] the step index of each entry


def _folds(labels: Tensor, k: int, generator: torch.Generator) -> Tensor:
    """A fold index per trial, each label spread evenly over the folds: [N]."""
    order = torch.randperm(len(labels), generator=generator)
    fold = torch.empty(len(labels), dtype=torch.long)
    for c in labels.unique():
        members = order[labels[order] == c]
        fold[members] = torch.arange(len(members)) % k
    return fold


def _ridge_predict(x_tr: Tensor, y_tr: Tensor, x_te: Tensor, n_classes: int,
                   ridge: float) -> Tensor:
    """Predicted labels [T, n_te] of a ridge classifier per step; x [T, n, F] float64."""
    mean = x_tr.mean(1, keepdim=True)
    std = x_tr.std(1, keepdim=True)
    std = torch.where(std > 1e-8, std, torch.ones_like(std))
    a, b = (x_tr - mean) / std, (x_te - mean) / std
    Y = nn.functional.one_hot(y_tr, n_classes).to(a.dtype)
    prior = Y.mean(0)
    Y = Y - prior
    n, F = a.shape[1], a.shape[2]
    lam = ridge * n
    if F <= n:
        gram = a.transpose(1, 2) @ a + lam * torch.eye(F, dtype=a.dtype)
        W = torch.linalg.solve(gram, a.transpose(1, 2) @ Y)  # [T, F, C]
        scores = b @ W
    else:
        gram = a @ a.transpose(1, 2) + lam * torch.eye(n, dtype=a.dtype)
        scores = (b @ a.transpose(1, 2)) @ torch.linalg.solve(gram, Y.expand(len(a), -1, -1))
    return (scores + prior).argmax(-1)


def cross_validated_accuracy(features: Tensor, labels: Tensor, n_classes: int | None = None,
                             folds: int = 4, ridge: float = 1.0,
                             generator: torch.Generator | None = None) -> Tensor:
    """k-fold accuracy of the ridge classifier at every step: features [N, T, F] (or
    [N, T, ...], flattened), labels [N] ints → [T]."""
    if features.dim() < 3 or features.shape[0] != labels.shape[0]:
        raise ValueError(f"features must be [N, T, F] with N = len(labels) = "
                         f"{labels.shape[0]}, got {tuple(features.shape)}")
    if folds < 2 or folds > len(labels):
        raise ValueError(f"folds must be in [2, N = {len(labels)}], got {folds}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    x = features.flatten(2).transpose(0, 1).double()  # [T, N, F]
    fold = _folds(labels, folds, g)
    right = torch.zeros(x.shape[0], dtype=torch.float64)
    for f in range(folds):
        tr, te = fold != f, fold == f
        pred = _ridge_predict(x[:, tr], labels[tr], x[:, te], n_classes, ridge)
        right += (pred == labels[te]).double().sum(1)
    return (right / len(labels)).float()


def decode_over_time(features: Tensor, labels: Tensor, n_classes: int | None = None,
                     folds: int = 4, ridge: float = 1.0, n_shuffles: int = 10,
                     steps: Tensor | None = None, seed: int = 0) -> Decoding:
    """Cross-validated decoding accuracy per step and a shuffled-label null."""
    g = torch.Generator().manual_seed(seed)
    n_classes = int(labels.max()) + 1 if n_classes is None else n_classes
    acc = cross_validated_accuracy(features, labels, n_classes, folds, ridge, g)
    null = torch.stack([
        cross_validated_accuracy(features, labels[torch.randperm(len(labels), generator=g)],
                                 n_classes, folds, ridge, g)
        for _ in range(n_shuffles)]) if n_shuffles > 0 else acc.new_full((1, len(acc)),
                                                                          1 / n_classes)
    return Decoding(acc, null.mean(0), null.quantile(0.95, dim=0),
                    torch.arange(len(acc)) if steps is None else steps)


def tensor_fields(inter, prefix: str = "") -> dict[str, Tensor]:
    """Every tensor of an intermediates object (dataclasses, lists of them), by dotted
    name: ``{"h": [B, T, d], "layers.0.S": [B, T, H, K, V], ...}``."""
    if isinstance(inter, Tensor):
        return {prefix.rstrip("."): inter}
    if dataclasses.is_dataclass(inter):
        items = [(f.name, getattr(inter, f.name)) for f in dataclasses.fields(inter)]
    elif isinstance(inter, list | tuple):
        items = [(str(i), v) for i, v in enumerate(inter)]
    elif isinstance(inter, Mapping):
        items = list(inter.items())
    else:
        return {}
    out = {}
    for name, value in items:
        out |= tensor_fields(value, f"{prefix}{name}.")
    return out


def decoding_sources(inter) -> dict[str, Tensor]:
    """The features to decode from, by source, each [B, T, F]: "activity", and
    "synaptic efficacy" (STSP) or "fast weights" (any other per-step matrix memory)."""
    fields = tensor_fields(inter)
    leaf = lambda name: name.rsplit(".", 1)[-1]  # noqa: E731
    groups: dict[str, list[Tensor]] = {"activity": [], "synaptic efficacy": [],
                                       "fast weights": []}
    for name, t in fields.items():
        if t.dim() < 3:
            continue
        if leaf(name) in ACTIVITY:
            groups["activity"].append(t.flatten(2))
        elif leaf(name) == "efficacy":
            groups["synaptic efficacy"].append(t.flatten(2))
        elif leaf(name) not in NOT_MEMORY and t.dim() >= 4:
            groups["fast weights"].append(t.flatten(2))
    return {k: torch.cat(v, -1) for k, v in groups.items() if v}


def run_with_noise(model: nn.Module, x: Tensor, noise: bool = True):
    """``model(x, return_intermediates=True)`` without gradients, in training mode when
    ``noise`` (a noisy network such as ``stsp-rnn`` then runs as it was trained)."""
    was = model.training
    model.train(noise)
    try:
        with torch.no_grad():
            return model(x, return_intermediates=True)
    finally:
        model.train(was)


def _replace(state: ModelState, values: dict[str, Tensor]) -> ModelState:
    return ModelState({n: values.get(n, t) for n, t in state.items()}, state.initial)


def perturbed_run(model: nn.Module, x: Tensor, start: int, end: int,
                  silence: tuple[str, ...] = ("h",), shuffle: tuple[str, ...] = (),
                  noise: bool = True, seed: int = 0) -> Tensor:
    """Outputs [B, T, C] of ``model`` on ``x`` with its state perturbed in steps
    [start, end): the state tensors named in ``silence`` are set to zero after every step
    there (activity silenced, as by optogenetic inhibition), and those in ``shuffle`` are
    permuted across trials once, at ``start`` (Masse et al.'s shuffle test: the trials
    exchange that part of their memory). The model's state must be a ``ModelState``."""
    if not 0 <= start < end <= x.shape[1]:
        raise ValueError(f"need 0 <= start < end <= T = {x.shape[1]}, got [{start}, {end})")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    was = model.training
    model.train(noise)
    try:
        with torch.no_grad():
            ys, state = [], None
            if start > 0:
                y, state = model(x[:, :start])
                ys.append(y)
            for t in range(start, end):
                if t == start and state is not None and shuffle:
                    perm = torch.randperm(x.shape[0], generator=g)
                    state = _replace(state, {n: state[n][perm] for n in shuffle})
                y_t, state = model.step(x[:, t], state)
                if not isinstance(state, ModelState):
                    raise ValueError(f"perturbations need a ModelState state, got "
                                     f"{type(state).__name__}")
                missing = [n for n in (*silence, *shuffle) if n not in state]
                if missing:
                    raise ValueError(f"state has no tensor(s) {missing}; it has {list(state)}")
                state = _replace(state, {n: torch.zeros_like(state[n]) for n in silence})
                ys.append(y_t[:, None])
            if end < x.shape[1]:
                ys.append(model(x[:, end:], state)[0])
            return torch.cat(ys, 1)
    finally:
        model.train(was)
