"""What differs between training a segmentation model and an image classifier: the loss, the validation
metrics and the history columns. The engine (``engine.Engine``) is shared and asks its task."""

from __future__ import annotations

import numpy as np
import torch

from lungseg.config import RunConfig
from lungseg.losses import ClassificationLoss, build_loss
from lungseg.metrics import classification_metrics
from lungseg.training.loop import EpochResult, StepOptions, autocast, to_device, validate
from lungseg.training.records import CLASSIFICATION_COLUMNS, HISTORY_COLUMNS


class SegmentationTask:
    """Per-pixel logits against masks: Dice/IoU/accuracy on the model grid."""

    history_columns = HISTORY_COLUMNS
    metric_names = ("dice", "iou", "accuracy")

    def loss(self, config: RunConfig, train_set) -> torch.nn.Module:
        return build_loss(config.train.loss, config.train.alpha, config.model.channels, config.train.class_weights)

    def validate(self, model, loader, loss_fn, config: RunConfig, options: StepOptions | None = None) -> EpochResult:
        return validate(model, loader, loss_fn, config.train.threshold, options)


class ClassificationTask:
    """Per-image logits against class indices: accuracy, balanced accuracy and macro-F1."""

    history_columns = CLASSIFICATION_COLUMNS
    metric_names = ("accuracy", "balanced_accuracy", "macro_f1")

    def loss(self, config: RunConfig, train_set) -> torch.nn.Module:
        weights = config.train.class_weights
        if weights is None and config.train.class_balance == "loss":
            weights = train_set.balancing_weights()
        return ClassificationLoss(config.train.label_smoothing, weights)

    @torch.no_grad()
    def validate(self, model, loader, loss_fn, config: RunConfig, options: StepOptions | None = None) -> EpochResult:
        options = options or StepOptions()
        model.eval()
        batch_losses, total, count, truth, predicted = [], 0.0, 0, [], []
        for batch in loader:
            batch = to_device(batch, options.device)
            with autocast(options):
                logits = model(batch["image"])
            logits = logits.float()
            batch_losses.append(float(loss_fn(logits, batch["label"], batch.get("weight")).item()))
            total += batch_losses[-1] * len(logits)
            count += len(logits)
            truth.append(batch["label"].cpu().numpy())
            predicted.append(logits.argmax(1).cpu().numpy())
        names = [str(c) for c in range(len(config.model.class_names))]
        scores = classification_metrics(np.concatenate(truth), np.concatenate(predicted), names)
        metrics = {
            "accuracy": scores.accuracy,
            "balanced_accuracy": scores.balanced_accuracy,
            "macro_f1": scores.macro_f1,
        }
        return EpochResult(total / max(count, 1), batch_losses, metrics)


def task_of(config: RunConfig):
    return ClassificationTask() if config.model.task == "classification" else SegmentationTask()
