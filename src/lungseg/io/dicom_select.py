"""Which series of a DICOM folder to segment when it holds several.

PACS exports often put a chest CT beside other series of the same visit (an abdomen, a reformat, a
dose report). Series are ranked by: CT modality first, then whether they look like a chest CT (lung:
air below -400 HU enclosed by the body, on at least ``CHEST_AIR_FRACTION`` of a slice, in one of three
slices sampled at 1/4, 1/2 and 3/4 of the series), then by slice count. The finding says which series
was used and why, so a reader can check the choice.
"""

from __future__ import annotations

import numpy as np

from lungseg import findings as catalogue
from lungseg.findings import Finding

CHEST_AIR_FRACTION = 0.03  # POPI chest slices: 7-12 %; the abdomen series: under 1 % (bowel gas)


def choose_series(groups: dict[str, list], read_pixels) -> tuple[str, list, list[Finding]]:
    """``groups``: SeriesInstanceUID -> [(path, header)]; ``read_pixels(path, header)`` -> HU slice.
    Returns (uid, its files, findings)."""
    if len(groups) == 1:
        uid, series = next(iter(groups.items()))
        return uid, series, []
    facts = {uid: _facts(series, read_pixels) for uid, series in groups.items()}
    ranked = sorted(groups, key=lambda uid: (facts[uid]["ct"], facts[uid]["chest"], len(groups[uid])), reverse=True)
    chosen = ranked[0]
    largest = max(groups, key=lambda uid: len(groups[uid]))
    reason = _describe(chosen, groups, facts)
    finding = (
        catalogue.MIXED_SERIES_LARGEST(count=len(groups), chosen=reason)
        if chosen == largest
        else catalogue.MIXED_SERIES_PREFERRED(
            count=len(groups), chosen=reason, largest=_describe(largest, groups, facts)
        )
    )
    return chosen, groups[chosen], [finding]


def lung_air_fraction(hu: np.ndarray) -> float:
    """Fraction of a slice that is air (< -400 HU) not connected to the slice border."""
    from scipy import ndimage

    air = np.asarray(hu) < -400
    labels, count = ndimage.label(air)
    if not count:
        return 0.0
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = air & ~np.isin(labels, border)
    return float(enclosed.mean())


def _facts(series: list, read_pixels) -> dict:
    ordered = sorted(series, key=lambda item: _z(item[1]))
    picks = {id(ordered[int(len(ordered) * q)]): ordered[int(len(ordered) * q)] for q in (0.25, 0.5, 0.75)}
    fractions = []
    for path, header in picks.values():
        try:
            fractions.append(lung_air_fraction(read_pixels(path, header)))
        except Exception:  # an unreadable sample says nothing about the series; loading reports it later
            continue
    air = max(fractions, default=0.0)
    modality = str(getattr(series[0][1], "Modality", "") or "")
    return {"ct": modality in ("CT", ""), "chest": air >= CHEST_AIR_FRACTION, "air": air, "modality": modality}


def _describe(uid: str, groups: dict, facts: dict) -> str:
    fact = facts[uid]
    header = groups[uid][0][1]
    label = " ".join(
        str(v)
        for v in (getattr(header, "SeriesNumber", None), getattr(header, "SeriesDescription", None))
        if v not in (None, "")
    )
    look = "lungs visible" if fact["chest"] else "no lungs visible"
    return (
        f"series {label or uid} ({len(groups[uid])} slices, {fact['modality'] or 'no modality'}, {look}: "
        f"{100 * fact['air']:.0f}% of a sampled slice is enclosed air)"
    )


def _z(header) -> float:
    try:
        return float(header.ImagePositionPatient[2])
    except (AttributeError, IndexError, TypeError, ValueError):
        return float(getattr(header, "InstanceNumber", 0) or 0)


__all__ = ["CHEST_AIR_FRACTION", "choose_series", "lung_air_fraction"]
