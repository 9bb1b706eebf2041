"""Pins: every registry name builds the same model as when ``pins.json`` was recorded: the
same parameter count and, for a fixed seed, the same outputs on a small input (token and
feature inputs, in fp64 after an fp32 initialisation). The outputs agree to fp32 rounding,
not to fp64's: the initialisation's vectorised fp32 math differs by an ulp between CPUs (kda
and mamba2-style moved by up to 3e-8 on another Xeon), while a changed model moves them by
far more than 1e-6. Refactors must keep these; rerecord
only for a deliberate change of a model; ``python tests/models/test_pins.py`` records the
names not yet pinned (a new registry name) and leaves the others as they are.

Each non-default version of a model (``models.cell.VARIANTS``) is pinned too, as
``name[label]``: when a registry default changed to the authors' version, the earlier model's
pin moved to its label, which must still build it."""

import json
from pathlib import Path

import pytest
import torch

from fastweights import models
from fastweights.models.cell import VARIANTS

PINS = Path(__file__).with_name("pins.json")
CFG = dict(input_size=7, output_size=3)


def _keys() -> dict[str, tuple[str, dict]]:
    """Pin key → (registry name, overrides): every name, then every non-default version."""
    keys = {name: (name, {}) for name in models.MODELS}
    for name, versions in VARIANTS.items():
        for label, (overrides, _) in list(versions.items())[1:]:
            keys[f"{name}[{label}]"] = (name, overrides)
    return keys


KEYS = _keys()


def _outputs(key: str, tokens: bool) -> tuple[int, list]:
    name, overrides = KEYS[key]
    torch.manual_seed(0)
    model = models.build(name, tokens=tokens, **CFG, **overrides)
    n = model.num_params()
    model = model.double().eval()
    g = torch.Generator().manual_seed(1)
    x = (torch.randint(7, (2, 6), generator=g) if tokens
         else torch.randn(2, 6, 7, generator=g, dtype=torch.float64))
    with torch.no_grad():
        y = model(x)[0]
    return n, y.tolist()


def record(pins: dict) -> dict:
    for name in sorted(set(KEYS) - set(pins)):
        pins[name] = {}
        for tokens, key in ((True, "tokens"), (False, "features")):
            n, y = _outputs(name, tokens)
            pins[name][key] = {"num_params": n, "y": y}
    return pins


PINNED = json.loads(PINS.read_text()) if PINS.exists() else {}


def test_every_name_is_pinned():
    assert sorted(PINNED) == sorted(KEYS)


@pytest.mark.parametrize("name", sorted(PINNED))
@pytest.mark.parametrize("tokens", [True, False])
def test_pinned(name, tokens):
    n, y = _outputs(name, tokens)
    pin = PINNED[name]["tokens" if tokens else "features"]
    assert n == pin["num_params"]
    want = torch.tensor(pin["y"], dtype=torch.float64)
    torch.testing.assert_close(torch.tensor(y, dtype=torch.float64), want,
                               rtol=1e-6, atol=1e-6)


if __name__ == "__main__":
    PINS.write_text(json.dumps(record(PINNED)))
