"""Optional TensorBoard logging (``--tensorboard``): scalars and example overlays after every epoch.

Scalars: ``loss/train``, ``loss/val``, ``val/dice``, ``val/iou``, ``val/accuracy``, ``lr``. Images
(``val/examples``): up to four fixed validation slices with the ground truth outlined in green and the
prediction in red (``preprocessing.display``). View with ``tensorboard --logdir RUN/tensorboard``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lungseg.preprocessing.display import comparison_overlay

EXAMPLES = 4


class TensorBoardMonitor:
    def __init__(self, folder: Path, threshold: float = 0.5):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # the tensorboard package is an optional dependency
            raise ValueError("--tensorboard needs the tensorboard package: pip install 'lungseg[tensorboard]'") from exc
        self.writer = SummaryWriter(str(folder))
        self.threshold = threshold

    def __call__(self, epoch: int, row: dict, model: torch.nn.Module, val_set) -> None:
        for tag, key in (
            ("loss/train", "train_loss"),
            ("loss/val", "val_loss"),
            ("val/dice", "val_dice"),
            ("val/iou", "val_iou"),
            ("val/accuracy", "val_accuracy"),
            ("lr", "lr"),
        ):
            if np.isfinite(row[key]):
                self.writer.add_scalar(tag, row[key], epoch)
        if len(val_set):
            self.writer.add_images("val/examples", self._overlays(model, val_set), epoch, dataformats="NHWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    @torch.no_grad()
    def _overlays(self, model: torch.nn.Module, val_set) -> np.ndarray:
        indices = np.linspace(0, len(val_set) - 1, min(EXAMPLES, len(val_set))).round().astype(int)
        items = [val_set[int(i)] for i in indices]
        model.eval()
        device = next(model.parameters()).device
        logits = model(torch.stack([item["image"] for item in items]).to(device)).float().cpu()
        if logits.shape[1] > 1:  # K classes: any foreground class against any foreground truth
            predictions = (logits.argmax(1) > 0).numpy()
        else:
            predictions = (torch.sigmoid(logits) > self.threshold).numpy()[:, 0]
        return np.stack(
            [
                _overlay(item["image"].numpy()[0], item["mask"].numpy()[0] > 0.5, prediction)
                for item, prediction in zip(items, predictions)
            ]
        )


def _overlay(image: np.ndarray, truth: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """(H, W) model input in [0, 1] -> (H, W, 3) float RGB in [0, 1] (``display.comparison_overlay``)."""
    gray = np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)
    return comparison_overlay(gray, truth, prediction).astype(np.float32) / 255.0
