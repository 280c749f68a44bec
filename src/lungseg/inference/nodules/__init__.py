"""Lung nodules: point to nodule (``NoduleSegmenter``), its measures (volume, diameters, HU type,
Lung-RADS size category), growth between two scans, the ``lungseg nodule`` study runner, and nodules at
points as a ``Segmenter`` of the one study pipeline (``NoduleAtPoints``)."""

from lungseg.inference.nodules.growth import Growth, growth
from lungseg.inference.nodules.measure import NoduleMeasures, lung_rads, measure_nodule
from lungseg.inference.nodules.points import NoduleAtPoints
from lungseg.inference.nodules.seeded import NoduleResult, NoduleSegmenter, Seed

__all__ = [
    "Growth",
    "NoduleAtPoints",
    "NoduleMeasures",
    "NoduleResult",
    "NoduleSegmenter",
    "Seed",
    "growth",
    "lung_rads",
    "measure_nodule",
]
