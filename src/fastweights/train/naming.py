"""The one naming rule of run folders, for ``train``, ``compare``, ``sweep`` and ``torchrun``.

``MODEL-TASK-lrLR-STEPSsteps-sSEED-HASH``, HASH the first six hex digits of the SHA-1 of the
whole resolved experiment (``Experiment.to_dict()``, keys sorted): the name says what
usually differs, the hash tells apart everything else, so two experiments never share a
folder and the same experiment always finds its own again (finished: reused; killed:
resumed). Config fields added after this rule (``ADDED``) enter the hash only when set
away from their defaults, so that a run keeps its folder across versions.
"""

from __future__ import annotations

import hashlib
import json

from fastweights.train.config import Experiment, TrainConfig

ADDED = {"train": ("curriculum", "curriculum_every")}


def run_name(exp: Experiment) -> str:
    d, default = exp.to_dict(), TrainConfig()
    for section, names in ADDED.items():
        for name in names:
            if d[section][name] == getattr(default, name):
                del d[section][name]
    digest = hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:6]
    return (f"{exp.model.name}-{exp.task.name.replace(':', '-')}-lr{exp.train.lr:g}-"
            f"{exp.train.steps}steps-s{exp.train.seed}-{digest}")
