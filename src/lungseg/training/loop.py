"""One training epoch and one validation pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lungseg.metrics import MetricAccumulator, segmentation_metrics


@dataclass
class EpochResult:
    loss: float
    batch_losses: list[float] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)


def train_epoch(model, loader, loss_fn, optimizer, on_batch: Callable[[], None] | None = None,
                frozen: torch.nn.Module | None = None) -> EpochResult:
    """Optimise over ``loader`` once; returns the sample-weighted mean loss and each batch's loss.

    ``frozen``: a sub-module kept in eval mode (batch-norm statistics fixed) while its parameters are frozen.
    """
    model.train()
    if frozen is not None:
        frozen.eval()
    batch_losses, total, count = [], 0.0, 0
    for batch in loader:
        images = batch["image"].contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(images), batch["mask"], batch.get("weight"))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss.item()}; lower the learning rate")
        loss.backward()
        optimizer.step()
        batch_losses.append(float(loss.item()))
        total += batch_losses[-1] * len(images)
        count += len(images)
        if on_batch is not None:
            on_batch()
    return EpochResult(total / max(count, 1), batch_losses)


@torch.no_grad()
def validate(model, loader, loss_fn, threshold: float = 0.5) -> EpochResult:
    """Loss and per-sample metrics (on the model grid, without HD95) over ``loader``."""
    model.eval()
    accumulator = MetricAccumulator()
    batch_losses, total, count = [], 0.0, 0
    for batch in loader:
        images, masks = batch["image"], batch["mask"]
        logits = model(images.contiguous(memory_format=torch.channels_last))
        batch_losses.append(float(loss_fn(logits, masks, batch.get("weight")).item()))
        total += batch_losses[-1] * len(images)
        count += len(images)
        predictions = (torch.sigmoid(logits) > threshold).numpy()
        for prediction, truth in zip(predictions, masks.numpy() > 0.5):
            accumulator.add(str(len(accumulator)), segmentation_metrics(prediction[0], truth[0], with_hd95=False))
    summary = accumulator.summary()
    metrics = {name: summary[name]["mean"] for name in ("dice", "iou", "accuracy")}
    return EpochResult(total / max(count, 1), batch_losses, metrics)
