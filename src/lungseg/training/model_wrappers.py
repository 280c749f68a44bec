"""What wraps the trained model: the exponential moving average of its weights (``--ema-decay``) and
``torch.compile`` (``--compile``), which falls back to the plain model where it does not work."""

from __future__ import annotations

import warnings

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def make_ema(model: torch.nn.Module, decay: float | None) -> AveragedModel | None:
    """An exponential moving average of the weights and batch-norm statistics, or None."""
    if decay is None:
        return None
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def compiled(model: torch.nn.Module, wanted: bool, example: torch.Tensor) -> torch.nn.Module:
    """``torch.compile(model)`` when asked and it works here (tried on ``example``, in eval mode so the
    batch-norm statistics are untouched); otherwise the model, with a warning saying why."""
    if not wanted:
        return model
    training = model.training
    try:
        candidate = torch.compile(model)
        model.eval()
        with torch.no_grad():
            candidate(example)
        return candidate
    except Exception as exc:  # no compiler toolchain, unsupported platform or Python version
        warnings.warn(
            f"--compile: torch.compile is not available here ({type(exc).__name__}: {exc}); training without it",
            RuntimeWarning,
            stacklevel=2,
        )
        return model
    finally:
        model.train(training)
