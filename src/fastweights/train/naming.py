"""The one naming rule of run folders, for ``train``, ``compare``, ``sweep`` and ``torchrun``.

``MODEL-TASK-lrLR-STEPSsteps-sSEED-HASH``, HASH the first six hex digits of the SHA-1 of the
whole resolved experiment (``Experiment.to_dict()``, keys sorted): the name says what
usually differs, the hash tells apart everything else, so two experiments never share a
folder and the same experiment always finds its own again (finished: reused; killed:
resumed).
"""

from __future__ import annotations

import hashlib
import json

from fastweights.train.config import Experiment


def run_name(exp: Experiment) -> str:
    digest = hashlib.sha1(json.dumps(exp.to_dict(), sort_keys=True).encode()).hexdigest()[:6]
    return (f"{exp.model.name}-{exp.task.name.replace(':', '-')}-lr{exp.train.lr:g}-"
            f"{exp.train.steps}steps-s{exp.train.seed}-{digest}")
