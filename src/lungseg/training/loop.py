"""One training epoch and one validation pass.

Each training step checks the loss and the gradient norm after the backward pass: a NaN or infinite
value raises ``TrainingDiverged`` before the optimizer step, so the weights (and the last checkpoint written at the
end of the previous epoch) stay good. With ``grad_clip`` the gradients are clipped to that total
L2 norm; with ``ema`` (a ``torch.optim.swa_utils.AveragedModel``) the moving average is updated
after every step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from lungseg.errors import TrainingDiverged
from lungseg.metrics import MetricAccumulator, MultiClassAccumulator, per_class_metrics, segmentation_metrics


@dataclass
class EpochResult:
    loss: float
    batch_losses: list[float] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    samples: int = 0


@dataclass
class StepOptions:
    """Per-step extras: gradient clipping (max total L2 norm, None = off), an EMA model to update, the
    device batches go to, the autocast precision (``models.device.Precision``, None = fp32) and, for fp16,
    the gradient scaler."""

    grad_clip: float | None = None
    ema: torch.nn.Module | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    precision: object = None
    scaler: object = None


MAX_SKIPPED_STEPS = 20  # fp16: consecutive overflowing steps the scaler may skip before the run is stopped


def to_device(batch: dict, device: torch.device) -> dict:
    """The batch's tensors on ``device`` (non-blocking from pinned memory); images channels-last."""
    moved = {key: value.to(device, non_blocking=True) for key, value in batch.items()}
    moved["image"] = moved["image"].contiguous(memory_format=torch.channels_last)
    return moved


def autocast(options: StepOptions):
    from contextlib import nullcontext

    return options.precision.autocast(options.device) if options.precision is not None else nullcontext()


def train_epoch(
    model,
    loader,
    loss_fn,
    optimizer,
    on_batch: Callable[[], None] | None = None,
    frozen: torch.nn.Module | None = None,
    options: StepOptions | None = None,
) -> EpochResult:
    """Optimise over ``loader`` once; returns the sample-weighted mean loss, each batch's loss and the
    seconds spent loading data, in forward and in backward (+ optimizer step).

    ``frozen``: a sub-module kept in eval mode (batch-norm statistics fixed) while its parameters are frozen.
    """
    options = options or StepOptions()
    model.train()
    if frozen is not None:
        frozen.eval()
    batch_losses, total, count, skipped = [], 0.0, 0, 0
    seconds = {"data": 0.0, "forward": 0.0, "backward": 0.0}
    clock = time.perf_counter()
    for index, batch in enumerate(loader):
        batch = to_device(batch, options.device)
        images = batch["image"]
        seconds["data"] += time.perf_counter() - clock
        clock = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with autocast(options):
            logits = model(images)
        loss = loss_fn(_float(logits), batch["label"] if "label" in batch else batch["mask"], batch.get("weight"))
        seconds["forward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        value = float(loss.item())  # also waits for the GPU, so the phase times are true
        if options.scaler is not None:  # fp16: overflowing steps are skipped and the scale lowered
            options.scaler.scale(loss).backward()
            options.scaler.unscale_(optimizer)
            norm = _clip(model, options.grad_clip)
            _check_finite("loss", value, index)
            skipped = skipped + 1 if not math.isfinite(norm) else 0
            if skipped > MAX_SKIPPED_STEPS:
                _check_finite("gradient norm", norm, index)
            options.scaler.step(optimizer)
            options.scaler.update()
        else:
            loss.backward()  # before the checks: under DDP every process must join the gradient all-reduce
            norm = _clip(model, options.grad_clip)
            _check_finite("loss", value, index)
            _check_finite("gradient norm", norm, index)
            optimizer.step()
        if options.ema is not None:
            options.ema.update_parameters(_unwrapped(model))
        if options.device.type == "cuda":
            torch.cuda.synchronize(options.device)
        seconds["backward"] += time.perf_counter() - clock
        batch_losses.append(value)
        total += value * len(images)
        count += len(images)
        if on_batch is not None:
            on_batch()
        clock = time.perf_counter()
    return EpochResult(total / max(count, 1), batch_losses, seconds=seconds, samples=count)


def _float(logits):
    """fp32 logits for the loss: one tensor, or the list of a deep-supervision model's heads."""
    return [head.float() for head in logits] if isinstance(logits, (list, tuple)) else logits.float()


def _clip(model, max_norm: float | None) -> float:
    """Clip the gradients to ``max_norm`` (if set); returns their total norm before clipping."""
    parameters = [p for p in model.parameters() if p.grad is not None]
    if not parameters:
        return 0.0
    limit = max_norm if max_norm is not None else float("inf")
    return float(torch.nn.utils.clip_grad_norm_(parameters, limit))


def _check_finite(what: str, value: float, batch: int) -> None:
    if not math.isfinite(value):
        raise TrainingDiverged(f"training {what} became {value} at batch {batch + 1}")


def _unwrapped(model):
    """The module inside a DistributedDataParallel wrapper, or the model itself."""
    return getattr(model, "module", model)


@torch.no_grad()
def validate(model, loader, loss_fn, threshold: float = 0.5, options: StepOptions | None = None) -> EpochResult:
    """Loss and per-sample metrics (on the model grid, without HD95) over ``loader``; for a K-class
    model (more than one output channel) each metric is the mean over the foreground classes. The model
    runs on ``options.device`` in its precision; metrics are computed on the CPU."""
    options = options or StepOptions()
    model.eval()
    accumulator, classes = MetricAccumulator(), None
    batch_losses, total, count = [], 0.0, 0
    for batch in loader:
        batch = to_device(batch, options.device)
        images = batch["image"]
        with autocast(options):
            logits = model(images)
        logits = logits.float()
        batch_losses.append(float(loss_fn(logits, batch["mask"], batch.get("weight")).item()))
        logits, masks = logits.cpu(), batch["mask"].cpu()
        total += batch_losses[-1] * len(images)
        count += len(images)
        if logits.shape[1] > 1:
            classes = classes or MultiClassAccumulator({c: str(c) for c in range(1, logits.shape[1])})
            for prediction, truth in zip(logits.argmax(1).numpy(), masks[:, 0].numpy().round()):
                classes.add(
                    str(len(classes)), per_class_metrics(prediction, truth, list(classes.class_names), with_hd95=False)
                )
            continue
        predictions = (torch.sigmoid(logits) > threshold).numpy()
        for prediction, truth in zip(predictions, masks.numpy() > 0.5):
            accumulator.add(str(len(accumulator)), segmentation_metrics(prediction[0], truth[0], with_hd95=False))
    if classes is not None:
        mean = classes.summary()["mean_foreground"]
        return EpochResult(
            total / max(count, 1), batch_losses, {name: mean[name] for name in ("dice", "iou", "accuracy")}
        )
    summary = accumulator.summary()
    metrics = {name: summary[name]["mean"] for name in ("dice", "iou", "accuracy")}
    return EpochResult(total / max(count, 1), batch_losses, metrics)
