"""The lesion burden of a result as data: sizes, tumour components and the burden per class and lung
(computed by ``inference.lesions.burden``). Units: ``volume_ml`` (mL, 2 decimals) for volumes,
``area_mm2`` (mm^2, 1 decimal) for slices, with ``voxels`` always; diameters in mm (1 decimal) with
spacing, else pixels; percentages of a lung with 2 decimals."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lungseg.labels import LabelClass

BANDS = ("0 %", "1-25 %", "26-50 %", "51-75 %", "> 75 %")


@dataclass(frozen=True)
class Size:
    """``voxels`` and, with spacing, ``volume_ml`` (volume) or ``area_mm2`` (slice)."""

    voxels: int
    volume_ml: float | None = None
    area_mm2: float | None = None

    @classmethod
    def of(cls, voxels: int, voxel_size: float | None, is_volume: bool) -> Size:
        if voxel_size is None:
            return cls(int(voxels))
        if is_volume:
            return cls(int(voxels), volume_ml=round(voxels * voxel_size / 1000.0, 2))
        return cls(int(voxels), area_mm2=round(voxels * voxel_size, 1))

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, values: dict) -> Size:
        return cls(values["voxels"], values.get("volume_ml"), values.get("area_mm2"))


@dataclass(frozen=True)
class Component:
    size: Size
    longest_diameter: float  # mm with spacing, else pixels
    diameter_unit: str
    slices: tuple[int, int]  # first and last slice (canonical, inferior first)

    def to_dict(self) -> dict:
        return {
            **self.size.to_dict(),
            f"longest_axial_diameter_{self.diameter_unit}": round(self.longest_diameter, 1),
            "slices": list(self.slices),
        }

    @classmethod
    def from_dict(cls, values: dict) -> Component:
        unit = "mm" if "longest_axial_diameter_mm" in values else "pixels"
        first, last = values["slices"]
        return cls(Size.from_dict(values), values[f"longest_axial_diameter_{unit}"], unit, (first, last))


@dataclass(frozen=True)
class LesionBurden:
    """``classes``: (lesion class, total size, {lung key: (size, percent of that lung)});
    ``lungs``: {lung key: (percent affected by any lesion, severity band 0..4)};
    ``components``: (tumour class, its components, largest first)."""

    classes: tuple[tuple[LabelClass, Size, dict[str, tuple[Size, float]]], ...]
    lungs: dict[str, tuple[float, int]]
    components: tuple[tuple[LabelClass, tuple[Component, ...]], ...]

    def to_dict(self) -> dict:
        return {
            "classes": {
                label.key: {
                    **size.to_dict(),
                    "per_lung": {
                        lung: {**part.to_dict(), "percent_of_lung": percent}
                        for lung, (part, percent) in per_lung.items()
                    },
                }
                for label, size, per_lung in self.classes
            },
            "per_lung": {
                lung: {"percent_affected": percent, "severity_score": band, "severity_band": BANDS[band]}
                for lung, (percent, band) in self.lungs.items()
            },
            "components": {
                label.key: {"count": len(found), "items": [c.to_dict() for c in found]}
                for label, found in self.components
            },
        }

    @classmethod
    def from_dict(cls, values: dict, classes: tuple[LabelClass, ...]) -> LesionBurden:
        """A report's ``lesions``; ``classes``: the label map's classes (the report's legend)."""
        by_key = {label.key: label for label in classes}
        return cls(
            tuple(
                (
                    by_key[key],
                    Size.from_dict(row),
                    {lung: (Size.from_dict(part), part["percent_of_lung"]) for lung, part in row["per_lung"].items()},
                )
                for key, row in values.get("classes", {}).items()
            ),
            {
                lung: (row["percent_affected"], row["severity_score"])
                for lung, row in values.get("per_lung", {}).items()
            },
            tuple(
                (by_key[key], tuple(Component.from_dict(item) for item in row["items"]))
                for key, row in values.get("components", {}).items()
            ),
        )
