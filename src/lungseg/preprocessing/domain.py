"""The in-domain check of a model: how far an input is from every image the model was trained on.

Each shipped model carries a ``DomainModel`` fitted at release time (``tools/fit_domain.py``) on its own
training images *as the model saw them* (after its ``PreprocessPlan``: windowed, cropped, resized, in
[0, 1]). An input is described by ``domain_features`` of its prepared model input, numbers that any
chest CT slice, chest film or nodule crop of the training kind shares and that foreign pictures do not:

- gray levels: 9 quantiles (1 %..99 %) of the input: how much air, lung, soft tissue, bone;
- an 8 x 8 thumbnail (block means): where they are (a body outline with two dark lungs, a film's fields);
- texture: mean absolute neighbour difference at 1, 2 and 4 pixels, the share of strong edges and the
  spread of the Laplacian (microscopy sections and noise are far rougher than CT or film).

Features are standardised on the training images (with a floor on each scale, so a feature that hardly
varies in training cannot dominate). The distance (method ``knn``, the default) is the mean distance to
the 3 nearest training images; ``mahalanobis`` (Ledoit-Wolf shrunk covariance) is kept for comparison:
it passed 44 of the 71 POPI chest CT slices and 13 of 78 EM sections as 8-bit CT exports, k-NN 63 and
0 (benchmarks/domain_check.py). The ``threshold`` is
the 99.5th percentile of the distances of training images held out of the fit (5-fold), so about 1 in
200 images like the training ones is flagged; ``far`` (3 x threshold) marks inputs that are certainly
foreign. ``status(distance)`` is ``in`` (no finding), ``unlike`` (the result needs a look) or
``foreign`` (refused). Measured per model in ``benchmarks/domain_check.py`` (benchmarks/README.md,
"In-domain check").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from lungseg.errors import InputError

FEATURES_VERSION = 2
QUANTILES, THUMBNAIL = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99), 8
# the smallest spread a feature is standardised by, so one that hardly varies in training cannot dominate:
# gray levels and the thumbnail (another export of the same film moves its quantiles by about 0.1), texture
GRAY_FLOOR, TEXTURE_FLOOR = 0.05, 0.01
NEIGHBOURS = 3
HOLDOUT_QUANTILE, FAR_FACTOR, FOLDS = 0.995, 3.0, 5
IN, UNLIKE, FOREIGN = "in", "unlike", "foreign"
METHODS = ("knn", "mahalanobis")


def domain_features(prepared: np.ndarray) -> np.ndarray:
    """A prepared model input, (S, S) float in [0, 1] (S >= 32), -> (81,) float64 features (module
    docstring). NaN in the input counts as 0."""
    image = np.nan_to_num(np.asarray(prepared, np.float64), nan=0.0)
    if image.ndim != 2 or min(image.shape) < 4 * THUMBNAIL:
        raise ValueError(f"prepared must be a 2D model input of at least 32 x 32, got shape {image.shape}")
    levels = np.quantile(np.clip(image, 0.0, 1.0), QUANTILES)
    side = min(image.shape) // THUMBNAIL * THUMBNAIL
    square = image[:side, :side]
    block = side // THUMBNAIL
    thumbnail = square.reshape(THUMBNAIL, block, THUMBNAIL, block).mean(axis=(1, 3)).ravel()
    texture = [np.abs(np.diff(image[::step, ::step], axis=axis)).mean() for step in (1, 2, 4) for axis in (0, 1)]
    gradient = np.hypot(np.diff(image, axis=0)[:, :-1], np.diff(image, axis=1)[:-1, :])
    laplacian = 4 * image[1:-1, 1:-1] - image[:-2, 1:-1] - image[2:, 1:-1] - image[1:-1, :-2] - image[1:-1, 2:]
    extra = [float((gradient > 0.1).mean()), float(laplacian.std())]
    return np.concatenate([levels, thumbnail, texture, extra]).astype(np.float64)


@dataclass(frozen=True)
class DomainModel:
    """The fitted check: feature ``center`` and ``scale`` (standardisation, with a floor), the ``method``
    (``mahalanobis``: ``whiten`` is the Cholesky factor of the shrunk precision; ``knn``: ``reference``
    holds the standardised training features and the distance is the mean distance to the 3 nearest),
    the ``threshold`` and ``far`` distances, ``n_train`` and ``fitted_on`` (which images)."""

    center: np.ndarray
    scale: np.ndarray
    method: str
    matrix: np.ndarray  # mahalanobis: (D, D) whitening; knn: (N, D) standardised training features
    threshold: float
    far: float
    n_train: int
    fitted_on: str
    version: int = FEATURES_VERSION

    def distances(self, features: np.ndarray) -> np.ndarray:
        """(N, D) features -> (N,) distances to the training images."""
        z = (np.atleast_2d(features) - self.center) / self.scale
        return _distances(self.method, self.matrix, z)

    def distances_of(self, prepared: Sequence[np.ndarray]) -> np.ndarray:
        """Prepared model inputs -> their distances."""
        return self.distances(np.stack([domain_features(p) for p in prepared]))

    def status(self, distance: float) -> str:
        """``in``, ``unlike`` (above ``threshold``) or ``foreign`` (above ``far``)."""
        return IN if distance <= self.threshold else (UNLIKE if distance <= self.far else FOREIGN)

    def write(self, handle: BinaryIO) -> None:
        """Write the check as ``.npz`` data to an open binary file (``tools/fit_domain.py`` writes it through
        ``io.atomic``: a temp file, then rename)."""
        np.savez_compressed(
            handle,
            center=self.center,
            scale=self.scale,
            matrix=self.matrix.astype(np.float32),
            numbers=np.array([self.threshold, self.far, self.n_train, self.version], np.float64),
            text=np.array([self.method, self.fitted_on]),
        )

    @classmethod
    def load(cls, path: str | Path) -> DomainModel:
        """Read a check written by ``write``; a damaged file or another feature version names the file."""
        try:
            with np.load(Path(path), allow_pickle=False) as stored:
                threshold, far, n_train, version = stored["numbers"].tolist()
                method, fitted_on = (str(value) for value in stored["text"])
                model = cls(
                    stored["center"],
                    stored["scale"],
                    method,
                    stored["matrix"].astype(np.float64),
                    threshold,
                    far,
                    int(n_train),
                    fitted_on,
                    int(version),
                )
        except (OSError, KeyError, ValueError) as exc:
            raise InputError(path, f"is not a readable in-domain check file ({exc})") from exc
        if model.version != FEATURES_VERSION or model.method not in METHODS:
            raise InputError(
                path,
                f"in-domain check of feature version {model.version} ({model.method}); this lungseg reads "
                f"version {FEATURES_VERSION} ({', '.join(METHODS)})",
            )
        return model


def _distances(method: str, matrix: np.ndarray, z: np.ndarray) -> np.ndarray:
    if method == "mahalanobis":
        return np.linalg.norm(z @ matrix, axis=1)
    squared = (z**2).sum(1)[:, None] - 2 * z @ matrix.T + (matrix**2).sum(1)[None, :]
    nearest = np.sort(np.sqrt(np.maximum(squared, 0.0)), axis=1)[:, :NEIGHBOURS]
    return nearest.mean(axis=1)


def _fit_core(features: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    center = features.mean(axis=0)
    floor = np.full(features.shape[1], GRAY_FLOOR)
    floor[len(QUANTILES) + THUMBNAIL**2 :] = TEXTURE_FLOOR
    scale = np.maximum(features.std(axis=0), floor)
    z = (features - center) / scale
    if method == "knn":
        return center, scale, z
    from sklearn.covariance import LedoitWolf

    covariance = LedoitWolf().fit(z).covariance_
    return center, scale, np.linalg.cholesky(np.linalg.inv(covariance))


def fit_domain(features: np.ndarray, fitted_on: str, method: str = "knn", seed: int = 0) -> DomainModel:
    """(N, D) features of the training images (N >= 10) -> the check (module docstring): the threshold
    from 5-fold held-out distances, the model itself fitted on all N."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    features = np.asarray(features, np.float64)
    if features.ndim != 2 or len(features) < 2 * FOLDS:
        raise ValueError(f"features must be (N, D) with N >= {2 * FOLDS}, got shape {features.shape}")
    order = np.random.default_rng(seed).permutation(len(features))
    held_out = np.empty(len(features))
    for fold in range(FOLDS):
        test = order[fold::FOLDS]
        center, scale, matrix = _fit_core(np.delete(features, test, axis=0), method)
        held_out[test] = _distances(method, matrix, (features[test] - center) / scale)
    threshold = float(np.quantile(held_out, HOLDOUT_QUANTILE))
    center, scale, matrix = _fit_core(features, method)
    return DomainModel(center, scale, method, matrix, threshold, FAR_FACTOR * threshold, len(features), fitted_on)
