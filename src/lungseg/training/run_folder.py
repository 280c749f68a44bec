"""The run folder of ``lungseg train``: where it is, whether it may be written, and every file in it.

``config.yaml``, ``split.json``, ``audit.json`` (written once, when the run starts), ``history.csv`` and
``batch_losses.csv`` (rewritten after every epoch), ``best.pt`` and ``last.pt`` (atomic checkpoints) and
``tensorboard/``. Every write goes through this object; under ``torchrun`` only rank 0's folder writes
(``writes`` is False elsewhere), so no other module has to ask which process it runs in.
"""

from __future__ import annotations

from pathlib import Path

from lungseg.config import RunConfig, dump_config
from lungseg.errors import InputError
from lungseg.io import check_folder_target, refuse_overwriting_inputs, write_text_atomic
from lungseg.models import Checkpoint, save_checkpoint
from lungseg.training.records import HISTORY_COLUMNS, csv_text


class RunFolder:
    def __init__(self, path: str | Path, writes: bool = True):
        self.path = Path(path)
        self.writes = writes

    @property
    def last(self) -> Path:
        return self.path / "last.pt"

    @property
    def best(self) -> Path:
        return self.path / "best.pt"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    def check_new(self) -> None:
        """A new run needs a folder that can be created and holds no run yet."""
        check_folder_target(self.path)
        if self.last.exists():
            raise InputError(self.path, "run folder already holds a run; use --resume or a new --out folder")

    def check_apart_from(self, input_files: list[Path], input_folders: list[Path]) -> None:
        """The folder is none of the training files and lies inside none of their folders."""
        refuse_overwriting_inputs([self.path], input_files, input_folders)

    def start(self, config: RunConfig, split, audit) -> None:
        """Write the run's description once everything is checked: config, split and the data audit."""
        if not self.writes:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        if audit is not None:
            write_text_atomic(self.path / "audit.json", audit.to_json())
        write_text_atomic(self.path / "config.yaml", dump_config(config))
        split.save(self.path / "split.json")

    def record_epoch(
        self,
        history: list[dict],
        batch_rows: list[tuple],
        best: Checkpoint | None,
        last: Checkpoint,
        columns: tuple[str, ...] = HISTORY_COLUMNS,
    ) -> None:
        """After an epoch: the tables, ``best.pt`` when the epoch improved (``best`` not None), ``last.pt``."""
        if not self.writes:
            return
        write_text_atomic(
            self.path / "history.csv",
            csv_text(columns, [[row.get(column, "") for column in columns] for row in history]),
        )
        write_text_atomic(self.path / "batch_losses.csv", csv_text(("epoch", "phase", "batch", "loss"), batch_rows))
        if best is not None:
            save_checkpoint(self.best, best)
        save_checkpoint(self.last, last)
