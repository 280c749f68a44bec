"""The nodules of a result as report rows: the automatic candidates of a crop-scale nodule model
(``lungseg predict --lesions lung-nodule``: ``inference.lesions.nodule_search``) and the nodules at a
user's points (``inference.nodules.segmenter``), with the measures of ``NoduleMeasures.to_dict()``
(volume mm^3 with 1 decimal and mL with 3, axial long and short axis in mm with 1 decimal, mean and
max HU, solid share, type, Lung-RADS v2022 size category). ``at`` is an (x, y, z) voxel of the canonical
grid, the grid of the report's slice numbers (LPS: patient right on the image left, inferior slice
first), as the findings' and the quality's slices are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CANDIDATE, POINT = "candidate", "point"


@dataclass(frozen=True)
class NoduleRow:
    """``how``: ``candidate`` (found by the search: ``at`` its centre, ``probability`` its highest model
    probability) or ``point`` (``at`` the user's point, ``probability`` the mean probability inside the
    nodule); ``found`` False (a point only) when no nodule lay at or near the point, ``measures`` then
    empty; ``notes``: why not, or what to check."""

    how: str
    at: tuple[int, int, int]
    probability: float
    measures: Mapping[str, Any]
    found: bool = True
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        x, y, z = self.at
        values = {
            "how": self.how,
            "at": {"x": x, "y": y, "z": z},
            "found": self.found,
            "probability": round(self.probability, 3),
            **self.measures,
        }
        return {**values, "notes": list(self.notes)} if self.notes else values

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> NoduleRow:
        fixed = ("how", "at", "found", "probability", "notes")
        at = values["at"]
        return cls(
            values["how"],
            (int(at["x"]), int(at["y"]), int(at["z"])),
            float(values["probability"]),
            {key: value for key, value in values.items() if key not in fixed},
            bool(values.get("found", True)),
            tuple(values.get("notes", ())),
        )
