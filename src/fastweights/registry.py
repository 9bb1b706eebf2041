"""Configs of named presets (models, environments, tasks): keys checked against the
config dataclass's fields before it is built."""

from __future__ import annotations

import dataclasses


def check_fields(kind: str, name: str, config_cls: type, values: dict) -> None:
    """A ``ValueError`` naming every key of ``values`` that ``config_cls`` has no field for
    (``kind`` and ``name`` say whose config it is, e.g. ``model`` ``"delta-net"``)."""
    fields = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        raise ValueError(f"{kind} {name!r} has no config field(s) {unknown}; "
                         f"fields: {sorted(fields)}")


def preset_config(kind: str, name: str, spec, overrides: dict):
    """``spec.config`` from ``spec.preset`` updated by ``overrides`` (keys checked)."""
    check_fields(kind, name, spec.config, overrides)
    return spec.config(**(spec.preset | overrides))
