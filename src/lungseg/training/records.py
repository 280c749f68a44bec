"""The run folder's tables: ``history.csv`` (one row per epoch, with the seconds spent loading data, in
forward and in backward, and the device and precision it ran on) and ``batch_losses.csv``."""

from __future__ import annotations

import csv
import io

HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_dice",
    "val_iou",
    "val_accuracy",
    "lr",
    "seconds",
    "data_seconds",
    "forward_seconds",
    "backward_seconds",
    "val_seconds",
    "device",
    "precision",
)
CLASSIFICATION_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "val_macro_f1",
    "lr",
    "seconds",
    "data_seconds",
    "forward_seconds",
    "backward_seconds",
    "val_seconds",
    "device",
    "precision",
)


def csv_text(columns, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def format_row(row: dict, improved: bool, metric_names=("dice", "iou")) -> str:
    metrics = "  ".join(f"val_{name} {row[f'val_{name}']:.4f}" for name in metric_names)
    return (
        f"epoch {row['epoch']:3d}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
        f"{metrics}  lr {row['lr']:.2e}  {row['seconds']:.1f}s{'  *best' if improved else ''}"
    )
