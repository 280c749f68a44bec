"""The label classes of lungseg's label maps: value, name, overlay colour and DICOM-SEG code, in one table.

A label map stores each structure as an integer; everything that shows or reports a label map (report
keys and the report's legend, measurements, overlay colours, DICOM-SEG segment descriptions) reads it
from a ``LabelClass`` here, so adding a structure is one entry in this module.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_COLOUR = (255, 200, 0)
# The palette of a K-class model's class maps (``inference.evaluate.classes``), by class index (0 is the
# background); a class past its end shows in ``UNKNOWN_COLOUR``.
CLASS_MAP_COLOURS = ((0, 0, 0), (255, 200, 0), (255, 64, 160), (0, 200, 120), (120, 120, 255), (255, 128, 0))
ANATOMY = ("91723000", "Anatomical Structure")  # DICOM-SEG segment categories (SNOMED CT)
ABNORMAL = ("49755003", "Morphologically Abnormal Structure")


@dataclass(frozen=True)
class LabelClass:
    """``value``: the integer in the label map (0 is background, never a class); ``name``: for people
    ("right lung"); ``colour``: RGB in overlays; ``snomed``: (SNOMED CT code, meaning) for DICOM-SEG,
    in ``category`` (anatomy, or an abnormal structure for lesions)."""

    value: int
    name: str
    colour: tuple[int, int, int] = UNKNOWN_COLOUR
    snomed: tuple[str, str] | None = None
    category: tuple[str, str] = ANATOMY

    def __post_init__(self):
        if not 0 < self.value < 256:
            raise ValueError(f"a label value must be in 1..255, got {self.value}")

    @property
    def key(self) -> str:
        """The name as a JSON key in reports: ``"right lung"`` -> ``"right_lung"``."""
        return self.name.replace(" ", "_")


RIGHT_LUNG = LabelClass(1, "right lung", (255, 64, 64), ("3341006", "Right lung"))
LEFT_LUNG = LabelClass(2, "left lung", (64, 160, 255), ("44029006", "Left lung"))
LUNG = LabelClass(1, "lung", (255, 64, 64), ("39607008", "Lung"))

# Lesions, in one label map with the lungs (``lungseg predict --lesions``): the label table is
# 0 background, 1 right lung, 2 left lung, 3 infection, 4 ground-glass opacity, 5 consolidation,
# 6 tumour, 7 nodule, 8 airways (a lesion model's class names pick its values; unknown names take 9, 10, ...).
INFECTION = LabelClass(3, "infection", (255, 150, 0), ("52988006", "Lesion"), ABNORMAL)
GROUND_GLASS = LabelClass(4, "ground-glass opacity", (255, 240, 0), ("52988006", "Lesion"), ABNORMAL)
CONSOLIDATION = LabelClass(5, "consolidation", (235, 0, 235), ("52988006", "Lesion"), ABNORMAL)
TUMOUR = LabelClass(6, "tumour", (0, 230, 110), ("108369006", "Neoplasm"), ABNORMAL)
NODULE = LabelClass(7, "nodule", (0, 230, 255), ("27925004", "Nodule"), ABNORMAL)  # lungseg nodule / lung-nodule
LESIONS = (INFECTION, GROUND_GLASS, CONSOLIDATION, TUMOUR, NODULE)
# The trachea and main bronchi (lobar where visible) on HU CT, taken out of the lung labels
# (``inference.ct.airways``); SNOMED CT 110726009 "Trachea and bronchus" (the DICOM anatomic region list).
AIRWAY = LabelClass(8, "airways", (170, 90, 255), ("110726009", "Trachea and bronchus"))
FIRST_FREE_VALUE = 9

SPLIT_LUNGS = (RIGHT_LUNG, LEFT_LUNG)  # the lung model's labels with the right/left split (the default)
BOTH_LUNGS = (LUNG,)  # ... without it (``PostprocessOptions(split_lungs=False)``)
PAIRED_LUNGS = frozenset(SPLIT_LUNGS)  # one adult lung each: the per-lung volume bounds apply
TABLE = (*SPLIT_LUNGS, *LESIONS, AIRWAY)  # the label table of a lung + lesion + airway label map


def label_class(value: int, classes: tuple[LabelClass, ...] = TABLE) -> LabelClass:
    """The class of ``value`` in ``classes``; a value outside them gets a generic name and colour."""
    for label in classes:
        if label.value == int(value):
            return label
    return LabelClass(int(value), f"label {int(value)}")


def lesion_classes(names, taken: tuple[LabelClass, ...] = ()) -> tuple[LabelClass, ...]:
    """The label classes of a lesion model's class names (its foreground channels, in order): the
    table's class of that name, else a new value after every value in the table and in ``taken``."""
    known = {label.name: label for label in LESIONS}
    free = max([FIRST_FREE_VALUE - 1, *(label.value for label in taken)]) + 1
    classes = []
    for name in names:
        if name in known:
            classes.append(known[name])
        else:
            classes.append(LabelClass(free, name, UNKNOWN_COLOUR, ("52988006", "Lesion"), ABNORMAL))
            free += 1
    return tuple(classes)


def legend(classes: tuple[LabelClass, ...]) -> dict[str, str]:
    """``{"0": "background", "1": "right lung", ...}`` for a report."""
    return {"0": "background", **{str(label.value): label.name for label in classes}}


def from_legend(names: dict[str, str]) -> tuple[LabelClass, ...]:
    """The classes of a report's ``legend`` (background left out): the table's class where its value and
    name match, else a class of that value and name in the generic colour."""
    classes = []
    for value, name in names.items():
        if value != "0":
            known = label_class(int(value))
            classes.append(known if known.name == name else LabelClass(int(value), name))
    return tuple(classes)
