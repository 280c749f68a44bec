"""Preprocessing (numpy only, no torch): intensity windows, resizing to the model grid and back, and
the plan that records both."""

from lungseg.preprocessing.geometry import (
    Letterbox,
    mask_to_model_grid,
    restore_mask,
    restore_probability,
    to_model_grid,
)
from lungseg.preprocessing.intensity import (
    WINDOWS,
    apply_window,
    fill_nonfinite,
    intensity_kind,
    invert_window,
    nonfinite_count,
    scale_8bit,
    stored_hu_offset,
)
from lungseg.preprocessing.marks import Unmarked, mark_mask, paint_out_marks
from lungseg.preprocessing.plan import PreprocessPlan

__all__ = [
    "WINDOWS",
    "Letterbox",
    "Unmarked",
    "mark_mask",
    "paint_out_marks",
    "PreprocessPlan",
    "apply_window",
    "fill_nonfinite",
    "intensity_kind",
    "stored_hu_offset",
    "invert_window",
    "nonfinite_count",
    "mask_to_model_grid",
    "restore_mask",
    "restore_probability",
    "scale_8bit",
    "to_model_grid",
]
