"""Command-line options built from the config fields' declarations (``config.fields.setting``).

An option's name, type, help, choices (the field's ``Literal``) and range (its metadata) are declared once, on
the config field; ``field_option`` turns that field into a typer option whose parser reads the text with
``config.fields.parse_setting``, so a bad value is one line naming the option and the valid values
(``Invalid value for '--loss': train.loss: 'dcie' is not one of bce, dice, ...``).

``run_options(task)`` lists every field marked ``cli`` for the training commands of ``task``, plus the
options that are not config fields (``--config``, ``--model-arg``, ``--set``, encoder weights);
``with_run_options`` adds them to a command's signature and ``build_config`` merges what was given into a
validated ``RunConfig``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, NamedTuple

import typer

from lungseg.config import RunConfig, merge_config, parse_assignment
from lungseg.config.fields import (
    BOTH,
    CLASSIFICATION,
    SEGMENTATION,
    base_type,
    choices_of,
    iter_settings,
    parse_setting,
    range_text,
    settings_of,
)


class RunOption(NamedTuple):
    """One option of the training commands: the config setting it sets (``"section.key"``, or None for the
    options ``build_config`` reads itself), its annotation and the value that means "not given"."""

    key: str | None
    annotation: Any
    default: Any


def option_help(item: dataclasses.Field, hint: Any) -> str:
    """The field's help followed by its valid values (choices, forms or range) in words."""
    text = item.metadata.get("help", "")
    choices = choices_of(hint)
    if choices is not None:
        return f"{text} One of: {', '.join(map(str, choices))}."
    if "pattern_text" in item.metadata:
        return f"{text} One of: {item.metadata['pattern_text']}."
    limits = range_text(item.metadata)
    return f"{text} Range: {limits}." if limits else text


def field_option(item: dataclasses.Field, hint: Any, key: str, *, optional: bool = False) -> Any:
    """The typer annotation of the option that sets the field ``key`` (``"section.name"``); with ``optional``
    its value is None when the option is not given (the config file's or the defaults' value then stays)."""
    name = "--" + item.metadata.get("option", item.name).replace("_", "-")
    help = option_help(item, hint)
    kind = base_type(hint)
    if kind is bool:
        return Annotated[bool | None if optional else bool, typer.Option(f"{name}/--no-{name[2:]}", help=help)]

    def parse(text: Any) -> Any:
        try:
            value = parse_setting(item, hint, str(text) if isinstance(text, Path) else text, key)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return Path(value) if item.metadata.get("path") and value is not None else value

    annotation: Any = Path if item.metadata.get("path") else str
    return Annotated[
        annotation | None if optional else annotation,
        typer.Option(name, parser=parse, help=help, metavar=_metavar(item, kind)),
    ]


def _metavar(item: dataclasses.Field, kind: Any) -> str:
    if item.metadata.get("path"):
        return "<path>"
    if choices_of(kind) is not None or "pattern" in item.metadata:
        return "<choice>"
    if typing.get_origin(kind) is list:
        return "<list>"
    return f"<{getattr(kind, '__name__', 'str')}>"


def config_option(cls: type, name: str, *, optional: bool = False) -> Any:
    """The option of field ``name`` of the config dataclass ``cls`` (e.g. ``InferenceConfig``'s ``backend``),
    for a command parameter whose default the command sets (``optional``: None, "not given")."""
    found = [(item, hint) for item, hint in settings_of(cls) if item.name == name]
    if not found:
        raise ValueError(f"name {name!r} is not a field of {cls.__name__}")
    return field_option(*found[0], name, optional=optional)


# options that are not config fields: name -> (tasks, annotation, value when not given)
EXTRA_OPTIONS: dict[str, tuple[tuple[str, ...], Any, Any]] = {
    "config": (
        BOTH,
        Annotated[Path | None, typer.Option(help="YAML/JSON config; options given here override it.")],
        None,
    ),
    "model_arg": (BOTH, Annotated[list[str], typer.Option(help="Model kwarg KEY=VALUE (repeatable).")], []),
    "encoder_weights": (
        SEGMENTATION,
        Annotated[
            str | None,
            typer.Option(help="Pretrained encoders: imagenet (library download), a local state-dict PATH, or none."),
        ],
        None,
    ),
    "pretrained": (
        CLASSIFICATION,
        Annotated[
            str | None,
            typer.Option(
                help="Initial weights of timm networks: imagenet (timm's download), a local state-dict PATH, or none."
            ),
        ],
        None,
    ),
    "set": (
        BOTH,
        Annotated[
            list[str],
            typer.Option(
                "--set", help="Any config setting SECTION.KEY=VALUE (repeatable), e.g. --set optim.optimizer=sgd."
            ),
        ],
        [],
    ),
}
MODEL_KWARG_OPTIONS = ("encoder_weights", "pretrained")  # their value becomes model.kwargs[name]


@functools.cache
def run_options(task: str) -> dict[str, RunOption]:
    """The options of the training commands of ``task`` ("segmentation": ``train``, ``cv``; "classification":
    ``classify train``): ``--config``, every config field marked for the task, then the other extras."""
    options = {"config": RunOption(None, EXTRA_OPTIONS["config"][1], None)}
    for key, item, hint in iter_settings(RunConfig):
        if task in item.metadata.get("cli", ()):
            name = item.metadata.get("option", item.name)
            options[name] = RunOption(key, field_option(item, hint, key, optional=True), None)
    for name, (tasks, annotation, default) in EXTRA_OPTIONS.items():
        if task in tasks and name not in options:
            options[name] = RunOption(None, annotation, default)
    return options


def with_run_options(task: str, exclude: tuple[str, ...] = ()):
    """Add ``run_options(task)`` (less ``exclude``) to a command's signature; the command receives their
    values as one ``options`` dict."""
    table = {name: option for name, option in run_options(task).items() if name not in exclude}

    def decorate(command):
        base = inspect.signature(command, eval_str=True)
        own = [p for p in base.parameters.values() if p.name != "options"]
        added = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=option.default, annotation=option.annotation
            )
            for name, option in table.items()
        ]

        @wraps(command)
        def wrapper(*args, **kwargs):
            options = {name: kwargs.pop(name) for name in table if name in kwargs}
            return command(*args, options=options, **kwargs)

        typing.cast(Any, wrapper).__signature__ = base.replace(parameters=own + added)  # what typer reads
        wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
        return wrapper

    return decorate


def build_config(options: dict[str, Any], defaults: RunConfig | None = None) -> RunConfig:
    """The given options (None: not given) over ``--set`` over the config file (or ``defaults``, a
    ``RunConfig``), merged and validated by the config layer. Values may be command-line text or parsed."""
    fields = {key: (item, hint) for key, item, hint in iter_settings(RunConfig)}
    settings = dict(parse_assignment(text, "--set") for text in options.get("set") or [])
    for name, value in options.items():
        key = _setting_key(name)
        if key is not None and value is not None:
            settings[key] = parse_setting(*fields[key], str(value) if isinstance(value, Path) else value, key)
    model_kwargs = dict(parse_assignment(text, "--model-arg") for text in options.get("model_arg") or [])
    model_kwargs.update({name: options[name] for name in MODEL_KWARG_OPTIONS if options.get(name) is not None})
    return merge_config(options.get("config"), settings, model_kwargs, defaults)


def _setting_key(name: str) -> str | None:
    for task in BOTH:
        option = run_options(task).get(name)
        if option is not None:
            return option.key
    raise ValueError(f"unknown run option {name!r}")
