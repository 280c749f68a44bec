"""Name -> model class (or factory function) registry. ``build_model`` rebuilds any model from its saved
name and kwargs."""

from __future__ import annotations

import inspect
from collections.abc import Callable

_REGISTRY: dict[str, Callable] = {}


def register_model(name: str) -> Callable[[Callable], Callable]:
    """Decorator adding a model class or factory under ``name``."""

    def add(cls: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return add


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def model_task(name: str) -> str:
    """ "segmentation" (per-pixel logits) or "classification" (per-image logits), as the model declares."""
    _check_name(name)
    return getattr(_REGISTRY[name], "task", "segmentation")


def _check_name(name: str) -> None:
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available_models())}")


def model_arguments(name: str) -> dict:
    """Named constructor arguments of model ``name`` with their defaults (``inspect.Parameter.empty``
    where required)."""
    _check_name(name)
    return {
        p.name: p.default
        for p in inspect.signature(_REGISTRY[name]).parameters.values()
        if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


def resolve_kwargs(name: str, kwargs: dict) -> dict:
    """``kwargs`` completed with the constructor defaults: what a checkpoint stores, so it rebuilds the
    same model even if a default changes in a later release."""
    defaults = {k: v for k, v in model_arguments(name).items() if v is not inspect.Parameter.empty}
    return {**defaults, **kwargs}


def build_model(name: str, **kwargs):
    """Instantiate the registered model ``name`` with ``kwargs``; unknown names or arguments raise
    ``ValueError`` listing the valid ones."""
    valid = model_arguments(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"model {name!r} has no argument(s) {unknown}; valid: {', '.join(valid)}")
    return _REGISTRY[name](**kwargs)
