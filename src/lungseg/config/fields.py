"""One declaration per setting: its help, valid values and command-line exposure live on its dataclass field.

A field declared with ``setting(default, help, min=..., ...)`` keeps in ``field.metadata``:

- ``help``: one sentence on what it does (the command line's help text);
- ``min``/``max`` (inclusive) and ``above``/``below`` (exclusive): the range of a number, or of each item
  of a list of numbers;
- ``pattern`` and ``pattern_text``: a regular expression the lower-cased text must match, and its valid
  forms in words (``train.device``);
- ``cli``: the tasks (``"segmentation"``, ``"classification"``) whose training commands take it as an
  option; ``option``: the option's name where it is not the field's (``model.name`` is ``--model``);
  ``path``: the option takes a path.

The choices of a setting are its ``Literal`` type. ``check_setting`` tests a value against all of these (the
whole-config check and the command line both call it) and ``parse_setting`` reads command-line text, so a
range or a list of choices is written once, on the field, and the CLI builds its options from it.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

SEGMENTATION = ("segmentation",)  # ``cli`` values: the training commands that take the option
CLASSIFICATION = ("classification",)
BOTH = SEGMENTATION + CLASSIFICATION


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    factory: Any = dataclasses.MISSING,
    min: float | None = None,
    max: float | None = None,
    above: float | None = None,
    below: float | None = None,
    pattern: str | None = None,
    pattern_text: str | None = None,
    cli: tuple[str, ...] = (),
    option: str | None = None,
    path: bool = False,
) -> Any:
    """A dataclass field with its help, range, pattern and command-line exposure as metadata (see above)."""
    if pattern is not None and not pattern_text:
        raise ValueError(f"pattern_text must name the valid forms of pattern {pattern!r}")
    unknown = sorted(set(cli) - set(BOTH))
    if unknown:
        raise ValueError(f"cli must name tasks of {', '.join(BOTH)}, got {unknown}")
    metadata = {
        key: value
        for key, value in {
            "help": help,
            "min": min,
            "max": max,
            "above": above,
            "below": below,
            "pattern": pattern,
            "pattern_text": pattern_text,
            "cli": tuple(cli),
            "option": option,
            "path": path,
        }.items()
        if value is not None and value is not False and value != "" and value != ()
    }
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


@functools.cache
def settings_of(cls: type) -> tuple[tuple[dataclasses.Field, Any], ...]:
    """The fields of a config dataclass with their resolved type hints, in declaration order."""
    hints = typing.get_type_hints(cls)
    return tuple((item, hints[item.name]) for item in dataclasses.fields(cls))


def iter_settings(config: Any) -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(``"section.key"``, field, type hint) of every setting of a run config class or instance's sections."""
    for section, section_hint in settings_of(config if isinstance(config, type) else type(config)):
        for item, hint in settings_of(section_hint):
            yield f"{section.name}.{item.name}", item, hint


def base_type(hint: Any) -> Any:
    """The hint without ``| None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(hint) if option is not type(None)]
        return options[0] if len(options) == 1 else hint
    return hint


def choices_of(hint: Any) -> tuple | None:
    """The values of a ``Literal`` hint (also inside ``| None``), else None."""
    hint = base_type(hint)
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


def range_text(metadata: Any) -> str | None:
    """The range of a setting in words: ``>= 1``, ``> 0``, ``within [0, 1)``; None when it has none."""
    low = ("[", metadata["min"]) if "min" in metadata else ("(", metadata["above"]) if "above" in metadata else None
    high = ("]", metadata["max"]) if "max" in metadata else (")", metadata["below"]) if "below" in metadata else None
    if low and high:
        return f"within {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>=' if low[0] == '[' else '>'} {low[1]:g}"
    if high:
        return f"{'<=' if high[0] == ']' else '<'} {high[1]:g}"
    return None


def check_setting(item: dataclasses.Field, hint: Any, value: Any, where: str) -> Any:
    """``value`` if it is one of the setting's choices, matches its pattern and lies in its range, else a
    ``ValueError`` naming ``where`` and the valid values. None passes (optional settings)."""
    if value is None:
        return value
    choices = choices_of(hint)
    if choices is not None and value not in choices:
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(map(str, choices))}")
    pattern = item.metadata.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, str(value).lower()):
        raise ValueError(f"{where} must be {item.metadata['pattern_text']}, got {value!r}")
    text = range_text(item.metadata)
    if text is not None:
        for number in value if isinstance(value, (list, tuple)) else [value]:
            if not _within(number, item.metadata):
                raise ValueError(f"{where} must be {text}, got {value!r}")
    return value


def _within(number: Any, metadata: Any) -> bool:
    if isinstance(number, bool) or not isinstance(number, (int, float)) or number != number:  # NaN
        return False
    return (
        ("min" not in metadata or number >= metadata["min"])
        and ("max" not in metadata or number <= metadata["max"])
        and ("above" not in metadata or number > metadata["above"])
        and ("below" not in metadata or number < metadata["below"])
    )


def parse_setting(item: dataclasses.Field, hint: Any, text: Any, where: str) -> Any:
    """Command-line text -> the setting's value, checked by ``check_setting``: numbers, true/false, a list
    as comma-separated items (``1,2``); a value that is not text is only checked."""
    if not isinstance(text, str):
        return check_setting(item, hint, text, where)
    kind = base_type(hint)
    if typing.get_origin(kind) is list:
        (item_kind,) = typing.get_args(kind)
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise ValueError(f"{where} expects comma-separated values, got {text!r}")
        return check_setting(item, hint, [_read(item_kind, part, where) for part in parts], where)
    return check_setting(item, hint, _read(kind, text, where), where)


def _read(kind: Any, text: str, where: str) -> Any:
    if kind is bool:
        words = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
        if text.strip().lower() not in words:
            raise ValueError(f"{where} expects true or false, got {text!r}")
        return words[text.strip().lower()]
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            noun = "a whole number" if kind is int else "a number"
            raise ValueError(f"{where} expects {noun}, got {text!r}") from None
    return text
