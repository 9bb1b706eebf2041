"""Config values checked and converted against a dataclass's own type hints.

Types come from ``typing.get_type_hints`` of the config class: ``int``, ``float``, ``bool``,
``str``, ``X | None``, ``tuple[X, ...]`` / ``tuple[X, Y]`` / ``list[X]``, ``dict`` and
``Literal[...]``. Values arrive in two ways:

- typed, from a TOML file or ``config.json``: only checked (an int is a float, a list is a
  tuple, nothing else is converted: ``lrs = "0.1"`` is an error);
- as text, from ``--section.key=value`` flags: parsed (``none``, ``true``/``false``, numbers;
  sequences as ``5,10``, ``(5,10)`` or ``[5,10]``; dicts as JSON).

Every error is a ``ValueError`` naming the key, the expected type and the value.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import types
import typing
from typing import Any, Literal, Union

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def convert(config_cls: type, values: dict, section: str, text: bool = False) -> dict:
    """Check ``values`` against ``config_cls``'s fields; with ``text``, parse strings first.

    Unknown keys raise, naming the known ones.
    """
    hints = typing.get_type_hints(config_cls)
    names = {f.name for f in dataclasses.fields(config_cls)}
    out = {}
    for key, raw in values.items():
        if key not in names:
            raise ValueError(f"unknown key {section}.{key}; {section} keys: "
                             f"{', '.join(sorted(names))}")
        out[key] = coerce(raw, hints[key], f"{section}.{key}", text)
    return out


def type_name(hint) -> str:
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")


def coerce(raw, hint, key: str, text: bool = False):
    """``raw`` as a value of type ``hint`` (see the module docstring), or a ValueError."""
    try:
        return _coerce(raw, hint, key, text)
    except _Mismatch:
        raise ValueError(f"{key} must be of type {type_name(hint)}, got {raw!r}") from None


class _Mismatch(Exception):
    pass


def _coerce(raw, hint, key: str, text: bool):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or hint is object:
        return raw
    if origin in (Union, types.UnionType):
        if raw is None or (text and isinstance(raw, str) and raw.strip().lower() == "none"):
            if type(None) in args:
                return None
            raise _Mismatch
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(raw, option, key, text)
            except (_Mismatch, ValueError):
                continue
        raise _Mismatch
    if origin is Literal:
        for choice in args:
            try:
                value = _coerce(raw, type(choice), key, text)
            except _Mismatch:
                continue
            if value == choice:
                return value
        raise ValueError(f"{key} must be one of {', '.join(map(repr, args))}, got {raw!r}")
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if text and isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise _Mismatch
    if hint is int:
        if text and isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                raise _Mismatch from None
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        raise _Mismatch
    if hint is float:
        if text and isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                raise _Mismatch from None
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        raise _Mismatch
    if hint is str:
        if isinstance(raw, str):
            return raw
        if text and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)  # an item of a parsed sequence such as "1,2"
        raise _Mismatch
    if origin in (tuple, list) or hint in (tuple, list):
        items = _parse_sequence(raw) if text and isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)):
            raise _Mismatch
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(items) != len(args):
                raise ValueError(f"{key} must have {len(args)} items ({type_name(hint)}), "
                                 f"got {raw!r}")
            hints = args
        else:
            hints = [args[0] if args else Any] * len(items)
        values = [coerce(v, h, f"{key}[{i}]", text)
                  for i, (v, h) in enumerate(zip(items, hints, strict=True))]
        return tuple(values) if (origin or hint) is tuple else values
    if origin is dict or hint is dict:
        if text and isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise _Mismatch from None
        if not isinstance(raw, dict):
            raise _Mismatch
        return dict(raw)
    return raw


def _parse_sequence(raw: str) -> list:
    """``5,10``, ``(5,10)`` and ``[5,10]`` as a list; items stay text unless the whole is a
    Python literal (``ast.literal_eval`` evaluates literals only, never code)."""
    s = raw.strip()
    if not s or s in ("()", "[]"):
        return []
    try:
        value = ast.literal_eval(s)
    except (ValueError, SyntaxError):
        value = None
    if isinstance(value, (list, tuple)):
        return list(value)
    if s[0] + s[-1] in ("()", "[]"):
        s = s[1:-1]
    return [part.strip() for part in s.split(",")]
