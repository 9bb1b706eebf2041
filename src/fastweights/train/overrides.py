"""Dotted command-line overrides of config dataclasses: ``--model.d_model=128 --train.lr 1e-3``.

Values are converted to the field's declared type (int, float, bool, str, or ``X | None``
where ``none`` means None); unknown sections, unknown keys and bad values raise ValueError
naming the key.
"""

from __future__ import annotations

import dataclasses

_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def parse_dotted(argv: list[str], sections: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Split ``--section.key=value`` / ``--section.key value`` arguments by section."""
    out: dict[str, dict[str, str]] = {s: {} for s in sections}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or "." not in arg.split("=")[0]:
            raise ValueError(f"unrecognised argument {arg!r}; overrides look like "
                             f"--{sections[0]}.KEY=VALUE (sections: {', '.join(sections)})")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            if i + 1 >= len(argv):
                raise ValueError(f"override --{key} has no value")
            i, value = i + 1, argv[i + 1]
        section, _, name = key.partition(".")
        if section not in out:
            raise ValueError(f"unknown config section {section!r} in --{key}; "
                             f"sections: {', '.join(sections)}")
        out[section][name] = value
        i += 1
    return out


def coerce(config_cls: type, values: dict[str, str], section: str) -> dict:
    """Convert string ``values`` to the types of ``config_cls``'s fields."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    result = {}
    for key, raw in values.items():
        if key not in fields:
            raise ValueError(f"unknown key {section}.{key}; {section} keys: "
                             f"{', '.join(sorted(fields))}")
        kind = str(fields[key].type)
        if "None" in kind and raw.lower() == "none":
            result[key] = None
            continue
        try:
            if kind.startswith("bool"):
                if raw.lower() not in _TRUE | _FALSE:
                    raise ValueError(raw)
                result[key] = raw.lower() in _TRUE
            elif kind.startswith("int"):
                result[key] = int(raw)
            elif kind.startswith("float"):
                result[key] = float(raw)
            else:
                result[key] = raw
        except ValueError:
            raise ValueError(f"{section}.{key} must be of type {kind}, got {raw!r}") from None
    return result
