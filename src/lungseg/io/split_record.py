"""``Split``: which samples a run trained, validated and tested on, saved as JSON in the run folder and
inside every model card. How a split is made (seeded, grouped by patient) is ``lungseg.data.splits``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lungseg.io.atomic import write_text_atomic

SUBSETS = ("train", "val", "test", "all")


@dataclass(frozen=True)
class Split:
    """Sample names per subset and the spec, seed and group pattern that made them."""

    train: list[str]
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    spec: str = ""
    seed: int = 0
    group_pattern: str | None = None

    def subset(self, name: str) -> list[str]:
        if name not in SUBSETS:
            raise ValueError(f"split must be one of {', '.join(SUBSETS)}, got {name!r}")
        return self.train + self.val + self.test if name == "all" else list(getattr(self, name))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Split:
        return cls(**values)

    def save(self, path: str | Path) -> None:
        write_text_atomic(path, json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> Split:
        return cls.from_dict(json.loads(Path(path).read_text()))
