"""Configs are flat dataclasses whose fields are checked against their type hints when built:
``d_model="64"`` or ``d_model=64.0`` is a ValueError naming the field, not a crash later."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any


def _fits(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    return isinstance(value, hint) if isinstance(hint, type) else True


def check_types(config: Any) -> None:
    """ValueError naming the first field whose value does not fit its type hint."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if not _fits(value, hints[f.name]):
            raise ValueError(f"{type(config).__name__}.{f.name} must be "
                             f"{getattr(hints[f.name], '__name__', hints[f.name])}, "
                             f"got {value!r}")
