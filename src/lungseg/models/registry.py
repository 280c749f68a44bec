"""Name -> model class registry. ``build_model`` rebuilds any model from its saved name and kwargs."""

from __future__ import annotations

from collections.abc import Callable

_REGISTRY: dict[str, type] = {}


def register_model(name: str) -> Callable[[type], type]:
    """Class decorator adding a model under ``name``."""

    def add(cls: type) -> type:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is already registered")
        _REGISTRY[name] = cls
        return cls

    return add


def available_models() -> list[str]:
    return sorted(_REGISTRY)


def build_model(name: str, **kwargs):
    """Instantiate the registered model ``name`` with ``kwargs``; unknown names list the valid ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available models: {', '.join(available_models())}")
    return _REGISTRY[name](**kwargs)
