"""Abstention for a classifier: below a confidence threshold the answer is "uncertain".

``choose_threshold`` picks the lowest threshold at which the answered cases (confidence >= threshold)
reach a target accuracy on held-out predictions; ``accuracy_coverage`` gives accuracy against
coverage for a set of thresholds; ``display_cap`` is the highest confidence those predictions support
(the accuracy of the most confident ones); ``shown_percent`` writes a probability for people, never as
100 % or 0 % (a calibrated model on a few hundred slices cannot support that), and above the cap as
">cap %".
"""

from __future__ import annotations

import numpy as np

DISPLAY_CAP = 0.99  # probabilities above are shown as ">99 %", below 1 - cap as "<1 %"
THRESHOLDS = tuple(round(0.25 + 0.05 * i, 2) for i in range(15))  # 0.25 .. 0.95


def _checked(confidence, correct) -> tuple[np.ndarray, np.ndarray]:
    confidence = np.asarray(confidence, np.float64).ravel()
    correct = np.asarray(correct, bool).ravel()
    if confidence.shape != correct.shape:
        raise ValueError(f"confidence has {confidence.size} values but correct has {correct.size}")
    if confidence.size and (not np.all(np.isfinite(confidence)) or confidence.min() < 0 or confidence.max() > 1):
        raise ValueError("confidence must be finite probabilities in [0, 1]")
    return confidence, correct


def accuracy_coverage(confidence, correct, thresholds=THRESHOLDS) -> list[dict]:
    """Per threshold: ``coverage`` (share answered), ``accuracy`` of the answered (None when none is)
    and ``answered`` (count)."""
    confidence, correct = _checked(confidence, correct)
    rows = []
    for threshold in thresholds:
        answered = confidence >= threshold
        count = int(answered.sum())
        rows.append(
            {
                "threshold": float(threshold),
                "answered": count,
                "coverage": count / confidence.size if confidence.size else 0.0,
                "accuracy": float(correct[answered].mean()) if count else None,
            }
        )
    return rows


def choose_threshold(confidence, correct, target: float, thresholds=THRESHOLDS, min_coverage: float = 0.1) -> float:
    """The lowest threshold whose answered cases reach ``target`` accuracy while answering at least
    ``min_coverage`` of them; the threshold with the best accuracy at that coverage when none reaches it."""
    if not 0 < target <= 1:
        raise ValueError(f"target must be in (0, 1], got {target!r}")
    if not 0 <= min_coverage <= 1:
        raise ValueError(f"min_coverage must be in [0, 1], got {min_coverage!r}")
    rows = [
        row
        for row in accuracy_coverage(confidence, correct, thresholds)
        if row["answered"] and row["coverage"] >= min_coverage
    ]
    if not rows:
        return float(min(thresholds))
    reaching = [row for row in rows if row["accuracy"] >= target]
    if reaching:
        return reaching[0]["threshold"]
    return max(rows, key=lambda row: (row["accuracy"], -row["threshold"]))["threshold"]


def display_cap(confidence, correct, level: float = 0.9, minimum: int = 20, cap: float = DISPLAY_CAP) -> float:
    """The highest confidence a display may state: the accuracy of held-out predictions at least
    ``level`` confident (of the ``minimum`` most confident ones when fewer reach it), floored to a
    percent and never above ``cap``; ``cap`` when there are fewer than ``minimum`` predictions."""
    confidence, correct = _checked(confidence, correct)
    if confidence.size < minimum:
        return cap
    chosen = confidence >= level
    if chosen.sum() < minimum:
        chosen = np.argsort(-confidence)[:minimum]
    return float(min(cap, np.floor(100 * correct[chosen].mean()) / 100))


def shown_percent(probability: float, cap: float = DISPLAY_CAP) -> str:
    """A probability as people read it: "73 %", ">99 %" above ``cap`` (">85 %" with a cap of 0.85),
    "<1 %" below 1 - ``DISPLAY_CAP``."""
    value = float(probability)
    if not np.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    if not 0 < cap <= DISPLAY_CAP:
        raise ValueError(f"cap must be in (0, {DISPLAY_CAP}], got {cap!r}")
    if value > cap:
        return f">{100 * cap:.0f} %"
    if value < 1 - DISPLAY_CAP:
        return f"<{100 * (1 - DISPLAY_CAP):.0f} %"
    return f"{100 * value:.0f} %"
