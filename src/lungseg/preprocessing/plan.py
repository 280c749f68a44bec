"""The preprocessing plan: every step from a stored image to the model input, and how to undo it.

The plan is fitted once on the training images, saved in every checkpoint, and replayed unchanged at
evaluation and prediction, so inference repeats exactly what training did.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path

import numpy as np

from lungseg.config import PreprocessConfig
from lungseg.errors import InputError
from lungseg.preprocessing.geometry import Letterbox, restore_probability, to_model_grid
from lungseg.preprocessing.intensity import EIGHT_BIT, HU, apply_window, intensity_kind, scale_8bit
from lungseg.preprocessing.radiograph import XRAY, looks_like_hu, normalize_radiograph

INTENSITIES = (HU, EIGHT_BIT, XRAY)


@dataclass(frozen=True)
class PreprocessPlan:
    """``intensity`` is ``"hu"`` (window ``window_center``/``window_width`` to [0, 1]), ``"8bit"``
    (divide by 255) or ``"xray"`` (radiographs of any bit depth: percentiles ``percentile_low`` /
    ``percentile_high`` to [0, 1], then CLAHE with clip limit ``clahe_clip`` unless it is 0; see
    ``preprocessing.radiograph``); images are then padded to a square (aspect kept) and resized to
    ``image_size``.

    An 8-bit model with an export window (``export_center``/``export_width``, the HU window that made
    its training exports, measured by ``benchmarks/export_window.py``) also takes HU input: it is
    windowed and quantised to 256 levels as the exports were. ``field_of_view`` is ``"full"`` (whole
    slices) or ``"lungs"`` (the training images were cropped to the lungs; the lesion pipeline crops
    each slice to its lung field before this model sees it)."""

    intensity: str
    window_center: float
    window_width: float
    image_size: int
    export_center: float | None = None
    export_width: float | None = None
    field_of_view: str = "full"
    percentile_low: float = 0.5
    percentile_high: float = 99.5
    clahe_clip: float = 0.0

    def __post_init__(self):
        if self.intensity not in INTENSITIES:
            raise ValueError(f"intensity must be one of {', '.join(INTENSITIES)}, got {self.intensity!r}")
        if not 0.0 <= self.percentile_low < self.percentile_high <= 100.0:
            raise ValueError(
                f"percentile_low/percentile_high must satisfy 0 <= low < high <= 100, got "
                f"{self.percentile_low}/{self.percentile_high}"
            )
        if self.clahe_clip < 0:
            raise ValueError(f"clahe_clip must be >= 0, got {self.clahe_clip}")
        if self.image_size < 16:
            raise ValueError(f"image_size must be at least 16, got {self.image_size}")
        if (self.export_center is None) != (self.export_width is None) or (
            self.export_width is not None and self.export_width <= 0
        ):
            raise ValueError(
                "export_center and export_width are set together, with a positive width; got "
                f"{self.export_center!r} / {self.export_width!r}"
            )
        if self.export_center is not None and self.intensity != EIGHT_BIT:
            raise ValueError("an export window is for 8-bit models (intensity '8bit')")
        if self.field_of_view not in ("full", "lungs"):
            raise ValueError(f"field_of_view must be 'full' or 'lungs', got {self.field_of_view!r}")

    @property
    def takes_hu(self) -> bool:
        """Whether HU input is accepted (HU models, and 8-bit models with an export window)."""
        return self.intensity == HU or self.export_center is not None

    @classmethod
    def fit(cls, config: PreprocessConfig, images: Iterable[tuple[str | Path, np.ndarray]]) -> PreprocessPlan:
        """Build the plan from the config; with ``intensity="auto"`` decide from the training images."""
        mode = config.intensity
        if mode == "auto":
            kinds = {path: intensity_kind(image) for path, image in images}
            found = set(kinds.values())
            if len(found) > 1:
                example = {kind: next(p for p, k in kinds.items() if k == kind) for kind in found}
                raise InputError(
                    example[EIGHT_BIT],
                    f"training images mix 8-bit pictures with HU CT (e.g. {example[HU]}); use one kind",
                )
            mode = found.pop() if found else HU
        export = (
            (None, None) if config.export_center is None else (float(config.export_center), float(config.export_width))
        )
        if export[0] is not None and mode != EIGHT_BIT:
            raise ValueError(
                f"preprocess.export_center/export_width are for 8-bit training images, but the "
                f"training images are {mode}"
            )
        return cls(
            mode,
            float(config.window_center),
            float(config.window_width),
            int(config.image_size),
            *export,
            config.field_of_view,
            float(config.percentile_low),
            float(config.percentile_high),
            float(config.clahe_clip),
        )

    def check(self, image: np.ndarray, source: str | Path | None = None) -> None:
        """Refuse input whose intensity kind differs from what the model was trained on."""
        if self.intensity == XRAY:
            if looks_like_hu(image):
                raise InputError(
                    source,
                    f"pixel values go down to {float(np.min(image)):.0f} (CT in Hounsfield "
                    "units), but this model segments chest radiographs; use a CT model "
                    "(ct-lung) or --model auto",
                )
            return
        kind = intensity_kind(image)
        if kind == self.intensity or (kind == HU and self.takes_hu):
            return
        if self.intensity == HU:
            raise InputError(
                source,
                "pixel values lie within 0..255, so this looks like an 8-bit picture, "
                "but the model was trained on CT in Hounsfield units; give the "
                "original DICOM/NIfTI/int16 TIFF",
            )
        raise InputError(
            source,
            f"pixel values span {image.min():.0f}..{image.max():.0f} (HU CT), but the "
            "model was trained on 8-bit pictures",
        )

    def normalize(self, image: np.ndarray) -> np.ndarray:
        """Stored values to float32 [0, 1]."""
        if self.intensity == XRAY:
            return normalize_radiograph(image, self.percentile_low, self.percentile_high, self.clahe_clip)
        if self.intensity == HU:
            return apply_window(image, self.window_center, self.window_width)
        if self.export_center is not None and intensity_kind(image) == HU:
            exported = apply_window(image, self.export_center, self.export_width)
            return np.rint(exported * 255.0) / np.float32(255.0)  # the export's 256 gray levels
        return scale_8bit(image)

    def prepare(self, image: np.ndarray, source: str | Path | None = None) -> tuple[np.ndarray, Letterbox]:
        """(H, W) stored image -> ((size, size) float32 in [0, 1], the letterbox to undo it)."""
        self.check(image, source)
        return to_model_grid(self.normalize(image), self.image_size, pad_value=0.0)

    def restore(self, probability: np.ndarray, box: Letterbox) -> np.ndarray:
        """(size, size) probability -> (H, W) probability on the original pixel grid."""
        return restore_probability(probability, box)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PreprocessPlan:
        return cls(**values)

    @classmethod
    def from_stored(cls, values, source: str | Path | None) -> PreprocessPlan:
        """The plan stored in a model file; ``InputError`` naming ``source`` says what is missing or wrong."""
        if not isinstance(values, dict):
            raise InputError(source, "preprocessing plan is missing (not a mapping)")
        missing = [f.name for f in fields(cls) if f.name not in values and f.default is MISSING]
        if missing:
            raise InputError(source, f"preprocessing plan is incomplete: missing {', '.join(missing)}")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise InputError(source, f"preprocessing plan is invalid ({exc})") from exc
