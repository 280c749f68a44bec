"""An analysis's result folder, which appears only complete: its files are written to a staging folder
that is renamed to ``result`` at the end, so a crash never leaves a half-written result. Segmentation
(``web.results``) and classification (``web.classification``) results are both written this way."""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path

RESULT = "result"


@contextmanager
def result_staging(folder: Path):
    """A new staging folder for the result files, renamed to ``folder/result`` when the block succeeds
    (replacing the result of an interrupted attempt that had finished writing) and removed when it fails,
    so a result folder is always complete."""
    staging = folder / f".{RESULT}-{int(time.time() * 1000)}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()  # never parents: an analysis deleted while its job ran must not come back
    try:
        yield staging
        if (folder / RESULT).exists():
            shutil.rmtree(folder / RESULT)
        staging.rename(folder / RESULT)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
