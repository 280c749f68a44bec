"""lungseg on a GPU against a MONAI reference on the same GPU, in one run: training and inference.

    .venv/bin/pip install -e '.[bench]'          # MONAI for the reference (without it those rows say so)
    .venv/bin/python benchmarks/gpu.py [--data ../shared/data/ct-lung-kmader] [--popi
        ../shared/data/ct-volume-popi/dicom]
    .venv/bin/python benchmarks/gpu.py --quick --allow-cpu   # a seconds-long smoke run on a CPU (numbers mean nothing)

Training (ct-lung-kmader, its seeded 70/20/10 split, 256 px):
- lungseg: ``train_run`` with the default recipe on ``--device auto`` (the GPU, bf16 autocast where
  supported, channels-last, pinned memory), stopped at validation Dice ``--target`` (0.97): seconds of
  training to the first epoch reaching it (from history.csv, data already in memory), training images/s,
  peak GPU memory.
- MONAI reference: ``monai.networks.nets.UNet`` (channels 16..256, 2 residual units, the tutorials'
  U-Net), ``DiceCELoss(sigmoid=True)``, Adam 1e-3, batch 4, the same preprocessed slices already on the
  GPU, fp32, no augmentation; validated the same way after each epoch.
Inference:
- model only: slices/s of each network on (B, 1, 256, 256) batches (lungseg: its backend, bf16; MONAI:
  the same UNet in fp32 and in bf16 autocast), after warm-up, synchronised.
- end to end, file reading excluded: ``Segmenter.segment`` (checks, flip TTA, post-processing, right/left
  split, measurements) on the POPI series and on a 512x512x300 volume (POPI resampled); MONAI:
  resize each slice to 256, the UNet with flip TTA, resize back, threshold, on the same volume.
Prints a table and writes benchmarks/results/gpu.json (device, versions, every number).
Goals on an H100-class GPU (issue 16): val Dice 0.97 in under 15 s of training, over 10,000 slices/s at
256 px, a 512x512x300 volume with TTA in under 2 s, and faster than the MONAI reference on each.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "gpu.json"


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_reset(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gib(device) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def train_lungseg(data: Path, target: float, minutes: float, epochs: int, device) -> dict:
    import csv

    from lungseg.config import RunConfig
    from lungseg.training import train_run

    config = RunConfig()
    config.data.data = str(data)
    config.train.max_minutes, config.train.target_val_dice, config.train.epochs = minutes, target, epochs
    config.train.device = str(device)
    _peak_reset(device)
    with tempfile.TemporaryDirectory() as tmp:
        train_run(config, Path(tmp) / "run", log=lambda line: print("  lungseg", line, flush=True))
        with open(Path(tmp) / "run" / "history.csv") as handle:
            rows = list(csv.DictReader(handle))
    train_seconds = sum(float(r["seconds"]) - float(r["val_seconds"]) for r in rows)
    elapsed, reached = 0.0, None
    for row in rows:
        elapsed += float(row["seconds"])
        if reached is None and float(row["val_dice"]) >= target:
            reached = elapsed
    from lungseg.data import find_pairs, make_split, resolve_folders

    samples = len(make_split([p.name for p in find_pairs(*resolve_folders(data))], "70/20/10", 0).train)
    return {
        "epochs": len(rows),
        "seconds_to_target": round(reached, 2) if reached else None,
        "best_val_dice": round(max(float(r["val_dice"]) for r in rows), 4),
        "train_images_per_s": round(samples * len(rows) / max(train_seconds, 1e-9), 1),
        "precision": rows[-1]["precision"],
        "data_seconds": round(sum(float(r["data_seconds"]) for r in rows), 2),
        "peak_gpu_gib": _peak_gib(device),
    }


def _tensors(data: Path, device):
    import numpy as np
    import torch

    from lungseg.config import PreprocessConfig
    from lungseg.data import SliceDataset, find_pairs, load_pair, make_split, resolve_folders
    from lungseg.preprocessing import PreprocessPlan

    pairs = {pair.name: pair for pair in find_pairs(*resolve_folders(data))}
    split = make_split(list(pairs), "70/20/10", 0)
    train = [load_pair(pairs[name]) for name in split.train]
    val = [load_pair(pairs[name]) for name in split.val]
    plan = PreprocessPlan.fit(PreprocessConfig(), [(p.name, p.image) for p in train])
    sets = [SliceDataset(items, plan) for items in (train, val)]
    return [
        (
            torch.from_numpy(s.images)[:, None].to(device),
            torch.from_numpy(s.masks.astype(np.float32))[:, None].to(device),
        )
        for s in sets
    ]


def monai_unet():
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
    )


def train_monai(data: Path, target: float, minutes: float, device) -> dict:
    import torch
    from monai.losses import DiceCELoss

    (images, masks), (val_images, val_masks) = _tensors(data, device)
    torch.manual_seed(0)
    model = monai_unet().to(device)
    loss_fn, optimizer = DiceCELoss(sigmoid=True), torch.optim.Adam(model.parameters(), lr=1e-3)
    _peak_reset(device)
    elapsed, train_seconds, epoch, best, reached = 0.0, 0.0, 0, 0.0, None
    while elapsed < minutes * 60 and reached is None:
        epoch += 1
        _sync(device)
        start = time.perf_counter()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch)).to(device)
        model.train()
        for first in range(0, len(order), 4):
            index = order[first : first + 4]
            optimizer.zero_grad()
            loss_fn(model(images[index]), masks[index]).backward()
            optimizer.step()
        _sync(device)
        train_seconds += time.perf_counter() - start
        dice = _dice(model, val_images, val_masks)
        elapsed += time.perf_counter() - start
        best = max(best, dice)
        print(f"  monai epoch {epoch}: val Dice {dice:.4f}, {time.perf_counter() - start:.2f}s", flush=True)
        if dice >= target:
            reached = elapsed
    return {
        "epochs": epoch,
        "seconds_to_target": round(reached, 2) if reached else None,
        "best_val_dice": round(best, 4),
        "train_images_per_s": round(len(images) * epoch / max(train_seconds, 1e-9), 1),
        "precision": "fp32",
        "peak_gpu_gib": _peak_gib(device),
    }


def _dice(model, images, masks) -> float:
    """Mean per-slice Dice at 0.5 (an empty truth and prediction count as 1), as lungseg validates."""
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for first in range(0, len(images), 64):
            predicted = torch.sigmoid(model(images[first : first + 64])) > 0.5
            truth = masks[first : first + 64] > 0.5
            overlap = (predicted & truth).flatten(1).sum(1).float()
            sizes = predicted.flatten(1).sum(1).float() + truth.flatten(1).sum(1).float()
            scores.append(torch.where(sizes > 0, 2 * overlap / sizes.clamp(min=1), torch.ones_like(sizes)))
    return float(torch.cat(scores).mean())


def throughput(call, batch, device, seconds: float = 3.0) -> float:
    """Slices/s of ``call(batch)`` after warm-up, synchronised."""
    for _ in range(3):
        call(batch)
    _sync(device)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call(batch)
        done += len(batch)
    _sync(device)
    return round(done / (time.perf_counter() - start), 1)


def model_throughput(device, batch_size: int) -> dict:
    import torch

    from lungseg.inference.core.predictor import Predictor

    predictor = Predictor.load("ct-lung", backend="torch", device=str(device))
    batch = torch.rand(batch_size, 1, 256, 256)
    rows = {
        "lungseg": throughput(lambda b: predictor.backend(b.numpy()), batch, device),
        "lungseg_precision": predictor.backend.precision.name,
    }
    try:
        model = monai_unet().to(device).eval()
    except ImportError:
        return {**rows, "monai": "not installed"}
    on_device = batch.to(device)

    def monai_fp32(b):
        with torch.inference_mode():
            return model(b)

    def monai_bf16(b):
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            return model(b)

    rows["monai_fp32_data_on_device"] = throughput(monai_fp32, on_device, device)
    rows["monai_bf16_data_on_device"] = throughput(monai_bf16, on_device, device)
    return rows


def volumes(popi: Path, slices: int, size: int):
    """The POPI series as read, and a ``size`` x ``size`` x ``slices`` volume resampled from it."""
    import SimpleITK as sitk

    from lungseg.inference.core.study import load_study

    study = load_study(popi)
    image = study.image
    spacing = [
        image.GetSpacing()[0] * image.GetSize()[0] / size,
        image.GetSpacing()[1] * image.GetSize()[1] / size,
        image.GetSpacing()[2] * image.GetSize()[2] / slices,
    ]
    resampled = sitk.Resample(
        image,
        [size, size, slices],
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        spacing,
        image.GetDirection(),
        -1024.0,
        image.GetPixelID(),
    )
    return {"popi": study.image, f"{size}x{size}x{slices}": resampled}


def infer_lungseg(images: dict, device) -> dict:
    from lungseg.inference import Segmenter

    segmenter = Segmenter.from_pretrained("ct-lung", device=str(device))
    segmenter.segment(next(iter(images.values()))[:, :, :8])  # warm-up (cuDNN autotuning, allocator)
    rows = {}
    for name, image in images.items():
        _peak_reset(device)
        _sync(device)
        start = time.perf_counter()
        result = segmenter.segment(image)
        _sync(device)
        seconds = time.perf_counter() - start
        rows[name] = {
            "seconds": round(seconds, 3),
            "slices_per_s": round(image.GetSize()[2] / seconds, 1),
            "total_ml": result.measurements.total.volume_ml,
            "peak_gpu_gib": _peak_gib(device),
            "runs_on": segmenter.predictor.runs_on,
        }
    return rows


def infer_monai(images: dict, device) -> dict:
    """The MONAI UNet slice by slice with flip TTA: resize to 256, forward, resize back, threshold."""
    import SimpleITK as sitk
    import torch
    import torch.nn.functional as F

    try:
        model = monai_unet().to(device).eval()
    except ImportError:
        return {name: "monai not installed" for name in images}
    rows = {}
    for name, image in images.items():
        array = sitk.GetArrayFromImage(image)
        _peak_reset(device)
        _sync(device)
        start = time.perf_counter()
        with torch.inference_mode():
            volume = torch.from_numpy(array).to(device, non_blocking=True).float()
            scaled = ((volume + 1350.0) / 1500.0).clamp(0, 1)[:, None]
            masks = []
            for first in range(0, len(scaled), 64):
                chunk = F.interpolate(scaled[first : first + 64], size=(256, 256), mode="bilinear", align_corners=False)
                probability = (torch.sigmoid(model(chunk)) + torch.sigmoid(model(chunk.flip(-1))).flip(-1)) / 2
                back = F.interpolate(probability, size=array.shape[1:], mode="bilinear", align_corners=False)
                masks.append((back > 0.5).to(torch.uint8).cpu())
            torch.cat(masks).numpy()
        _sync(device)
        seconds = time.perf_counter() - start
        rows[name] = {
            "seconds": round(seconds, 3),
            "slices_per_s": round(len(array) / seconds, 1),
            "peak_gpu_gib": _peak_gib(device),
        }
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED / "ct-lung-kmader")
    parser.add_argument("--popi", type=Path, default=SHARED / "ct-volume-popi" / "dicom")
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget per side")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=512, help="slices per batch in the model-only test")
    parser.add_argument("--quick", action="store_true", help="1 epoch, a 16-slice volume, small batches")
    parser.add_argument("--allow-cpu", action="store_true", help="run without a GPU (a smoke test)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from lungseg.models.device import describe_devices, resolve_device

    device = resolve_device("auto")
    if device.type != "cuda" and not args.allow_cpu:
        raise SystemExit("no CUDA GPU visible: this benchmark is for a GPU machine (--allow-cpu for a smoke run)")
    if args.quick:
        args.epochs, args.minutes, args.batch = 1, 1.0, 8
    result = {
        "device": describe_devices(),
        "python": platform.python_version(),
        "quick": args.quick,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    print("training: lungseg", flush=True)
    result["train_lungseg"] = train_lungseg(args.data, args.target, args.minutes, args.epochs, device)
    print("training: MONAI reference", flush=True)
    try:
        result["train_monai"] = train_monai(args.data, args.target, args.minutes if not args.quick else 0.01, device)
    except ImportError:
        result["train_monai"] = "monai not installed (pip install -e '.[bench]')"
    print("inference: model only", flush=True)
    result["model_slices_per_s"] = model_throughput(device, args.batch)
    images = volumes(args.popi, 16 if args.quick else 300, 128 if args.quick else 512)
    result["infer_lungseg"] = infer_lungseg(images, device)
    result["infer_monai"] = infer_monai(images, device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    _print(result)
    print(f"wrote {args.out}")


def _print(result: dict) -> None:
    def cell(side: dict | str, key: str):
        return side.get(key) if isinstance(side, dict) else side

    gpus = result["device"]["gpus"]
    print(f"device: {gpus[0]['name'] if gpus else 'CPU (numbers mean nothing for the goals)'}")
    print(f"{'measure':44} {'lungseg':>12} {'MONAI':>14}")
    lt, mt = result["train_lungseg"], result["train_monai"]
    for key in ("seconds_to_target", "best_val_dice", "train_images_per_s", "peak_gpu_gib"):
        print(f"{'train ' + key:44} {str(cell(lt, key)):>12} {str(cell(mt, key)):>14}")
    model = result["model_slices_per_s"]
    print(
        f"{'model slices/s at 256 px':44} {str(model['lungseg']):>12} "
        f"{str(model.get('monai_bf16_data_on_device', model.get('monai'))):>14}"
    )
    for name, row in result["infer_lungseg"].items():
        other = result["infer_monai"][name]
        print(f"{'end to end seconds, ' + name:44} {str(row['seconds']):>12} {str(cell(other, 'seconds')):>14}")


if __name__ == "__main__":
    main()
