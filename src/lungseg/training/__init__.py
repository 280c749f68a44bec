"""Training: the epoch loop, optimizers and schedules, and whole runs with checkpoints and resume."""

from lungseg.training.run import HISTORY_COLUMNS, RunResult, train_run

__all__ = ["HISTORY_COLUMNS", "RunResult", "train_run"]
