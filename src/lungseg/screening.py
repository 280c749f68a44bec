"""How lungseg's results are to be read, said once: they support screening and research, and a person
reviews them. ``DISCLAIMER`` is carried by every report, prediction file and web page; ``QUALITY_FLAG``
is the quality score (``inference.core.quality``) below which a segmentation is flagged for review, in the
report, on the overlays and in the web app's quality chart."""

from __future__ import annotations

DISCLAIMER = (
    "Research and screening use only; not a medical device. A radiologist must review every "
    "result before any clinical use."
)
QUALITY_FLAG = 0.90
