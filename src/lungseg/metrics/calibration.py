"""Temperature scaling of a classifier's logits (Guo et al. 2017), with numpy and scipy only.

One scalar T divides all logits before the softmax; it is fitted by minimising the negative
log-likelihood on held-out (validation) data. T > 1 softens an over-confident model, T < 1 sharpens an
under-confident one; the arg-max, hence the accuracy, does not change.
"""

from __future__ import annotations

import math

import numpy as np

from lungseg.metrics.classification import as_labels

TEMPERATURE_BOUNDS = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities of ``logits / temperature`` over the last axis (max-shifted, so large logits are safe)."""
    temperature = _temperature(temperature)
    logits = _finite(logits, "logits")
    if logits.ndim < 1 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have at least one class on the last axis, got shape {logits.shape}")
    scaled = logits / temperature
    exponent = np.exp(scaled - scaled.max(axis=-1, keepdims=True))
    return exponent / exponent.sum(axis=-1, keepdims=True)


def log_softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """log(softmax(logits / temperature)) over the last axis, computed stably (log-sum-exp)."""
    temperature = _temperature(temperature)
    scaled = _finite(logits, "logits") / temperature
    shifted = scaled - scaled.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def fit_temperature(logits: np.ndarray, truth: np.ndarray) -> float:
    """The T in [0.05, 20] minimising the mean NLL of softmax(logits / T) against ``truth``.

    ``logits``: (N, K) raw scores; ``truth``: (N,) labels in [0, K). Returns 1.0 (no change) with fewer
    than 2 samples. The search is a bounded scalar minimisation over log T.
    """
    from scipy.optimize import minimize_scalar

    logits = _finite(logits, "logits")
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (N, K), got {logits.shape}")
    truth = as_labels(truth, "truth", logits.shape[1])
    if truth.shape[0] != logits.shape[0]:
        raise ValueError(f"truth has {truth.shape[0]} labels but logits has {logits.shape[0]} rows")
    if truth.shape[0] < 2:
        return 1.0
    rows = np.arange(truth.shape[0])

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits, math.exp(log_t))[rows, truth].mean())

    low, high = (math.log(bound) for bound in TEMPERATURE_BOUNDS)
    result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-5})
    return float(min(max(math.exp(result.x), TEMPERATURE_BOUNDS[0]), TEMPERATURE_BOUNDS[1]))


def _temperature(temperature: float) -> float:
    value = float(temperature)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return value


def _finite(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    return array
