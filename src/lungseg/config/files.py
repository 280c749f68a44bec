"""Config files and command-line settings: YAML/JSON in, ``SECTION.KEY=VALUE`` assignments merged,
YAML out (``RUN/config.yaml``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lungseg.config.run import RunConfig


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML or JSON config file; missing sections and keys keep their defaults."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read config ({exc.strerror})") from exc
    try:
        values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: not valid YAML/JSON ({exc})") from exc
    try:
        return RunConfig.from_dict(values or {})
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def parse_assignment(text: str, option: str) -> tuple[str, Any]:
    """``"KEY=VALUE"`` -> (KEY, VALUE read as JSON where it parses: numbers, true/false, null, lists; else
    the text). ``option`` names the command-line option in the error."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"{option} expects KEY=VALUE, got {text!r}")
    try:
        return key.strip(), json.loads(raw)
    except json.JSONDecodeError:
        return key.strip(), raw


def merge_config(
    config_file: str | Path | None,
    settings: dict[str, Any],
    model_kwargs: dict[str, Any] | None = None,
    defaults: RunConfig | None = None,
) -> RunConfig:
    """The config file (or ``defaults``, else the segmentation defaults), then ``settings``
    (``"section.key"`` -> value; None means not given), then ``model_kwargs`` added to ``model.kwargs``;
    the result is validated as a whole."""
    values = (load_config(config_file) if config_file else defaults or RunConfig()).to_dict()
    for dotted, value in settings.items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        if not isinstance(values.get(section), dict) or not key or section == "model" and key == "kwargs":
            raise ValueError(
                f"unknown setting {dotted!r}: settings are SECTION.KEY with a section of "
                f"{', '.join(name for name in values if name != 'model')} or model.name"
            )
        values[section][key] = str(value) if isinstance(value, Path) else value
    values["model"]["kwargs"].update(model_kwargs or {})
    return RunConfig.from_dict(values)


def dump_config(config: RunConfig) -> str:
    """The config as YAML text (what ``RUN/config.yaml`` holds)."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False)
