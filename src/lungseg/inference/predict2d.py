"""``lungseg predict`` for 2D images: a file or a folder in, mask PNGs (and overlays) out.

Outputs are written atomically; an input that fails is reported with its reason and the others are
still processed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lungseg.data import list_files
from lungseg.errors import InputError, LungsegError
from lungseg.inference.overlay import render_overlay
from lungseg.inference.predictor import Predictor
from lungseg.io import IMAGE_SUFFIXES, read_image, write_mask_png, write_png


@dataclass(frozen=True)
class Job:
    source: Path
    mask: Path

    @property
    def overlay(self) -> Path:
        return self.mask.with_name(f"{self.mask.stem}_overlay.png")


def plan_jobs(source: str | Path, output: str | Path) -> list[Job]:
    """Map INPUT (file or folder) to output mask paths: a folder gives OUTPUT/<stem>.png per image."""
    source, output = Path(source), Path(output)
    if source.is_dir():
        if output.suffix.lower() == ".png":
            raise InputError(output, "INPUT is a folder, so OUTPUT must be a folder, not a .png file")
        return [Job(path, output / f"{path.stem}.png") for path in list_files(source, IMAGE_SUFFIXES, "image")]
    if not source.exists():
        raise InputError(source, "input not found")
    mask = output if output.suffix.lower() == ".png" else output / f"{source.stem}.png"
    if mask.resolve() == source.resolve():
        raise InputError(source, "OUTPUT would overwrite the input image")
    return [Job(source, mask)]


def predict_images(predictor: Predictor, jobs: list[Job], overlay: bool = False,
                   log: Callable[[str], None] = print, advance: Callable[[], None] | None = None) -> list[str]:
    """Write a 0/255 mask PNG per job (and an overlay PNG); returns one error line per failed input."""
    errors = []
    for job in jobs:
        try:
            image = read_image(job.source)
            mask = predictor.predict([image], [job.source])[0]
            write_mask_png(job.mask, mask)
            if overlay:
                write_png(job.overlay, render_overlay(image, mask, predictor.plan))
        except LungsegError as exc:
            errors.append(str(exc))
            log(f"error: {exc}")
        if advance is not None:
            advance()
    return errors
