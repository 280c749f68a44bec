"""The whole-config check: every setting against the choices, range and pattern declared on its field, then
the rules between settings. Each failure is a ``ValueError`` naming the key (``config train.epochs ...``).

It reads a ``RunConfig`` by its sections' attributes only, so ``config.run`` can call it without a circle.
"""

from __future__ import annotations

import re
from typing import Any

from lungseg.config.fields import check_setting, iter_settings


def check_run_config(config: Any) -> None:
    """Refuse values no run can use in ``config`` (a ``RunConfig``), also when a field was set directly."""
    for key, item, hint in iter_settings(config):
        section, _, name = key.partition(".")
        check_setting(item, hint, getattr(getattr(config, section), name), f"config {key}")
    pre, train, data = config.preprocess, config.train, config.data
    if not pre.percentile_low < pre.percentile_high:
        raise ValueError(
            f"config preprocess.percentile_low/percentile_high must satisfy 0 <= low < high <= 100, got "
            f"{pre.percentile_low}/{pre.percentile_high}"
        )
    if (train.loss == "cross_entropy") != (config.model.task == "classification"):
        raise ValueError(
            f"config train.loss {train.loss!r} does not fit model.task {config.model.task!r} "
            "(classifiers train with cross_entropy, segmentation models with the others)"
        )
    if data.group_pattern:
        try:
            re.compile(data.group_pattern)
        except re.error as exc:
            raise ValueError(
                f"config data.group_pattern {data.group_pattern!r} is not a valid regular expression ({exc})"
            ) from exc
    if data.mask_labels is not None and not data.mask_labels:
        raise ValueError(f"config data.mask_labels must be positive labels, got {data.mask_labels!r}")
    _check_classes(config)
    if data.mask_mapping and not re.fullmatch(r"\s*\d+:\d+(\s*,\s*\d+:\d+)*\s*", data.mask_mapping):
        raise ValueError(
            f"config data.mask_mapping must be STORED:CLASS pairs like 0:0,128:1,255:2, got {data.mask_mapping!r}"
        )


def _check_classes(config: Any) -> None:
    names = config.model.class_names
    if (
        not names
        or len(names) > 254
        or len(set(names)) != len(names)
        or not all(isinstance(name, str) and name.strip() for name in names)
    ):
        raise ValueError(f"config model.class_names must be 1..254 different names, got {names!r}")
    weights = config.train.class_weights
    if weights is not None and (len(weights) != config.model.channels or min(weights) < 0 or len(names) == 1):
        raise ValueError(
            f"config train.class_weights needs one non-negative weight per output channel "
            f"({config.model.channels}, background first) of a multi-class model, got {weights!r}"
        )
