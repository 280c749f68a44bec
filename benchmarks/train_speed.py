"""Time to reach validation Dice >= 0.97 on ct-lung-kmader: lungseg's default recipe against a reference
loop of MONAI ``UNet`` + ``DiceCELoss`` + Adam, same split, image size and seed, in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/train_speed.py [--target 0.97] [--minutes 20]

- lungseg: ``train_run`` with every default (U-Net 16 filters, BCE+Dice, Adam 3e-3 cosine, batch 4,
  augmentation, 256 px), on the default seeded 70/20/10 split.
- MONAI reference: ``monai.networks.nets.UNet`` (2D, channels 16-32-64-128-256, strides 2, 2 residual
  units: the MONAI tutorials' U-Net), ``DiceCELoss(sigmoid=True)``, ``Adam(lr=1e-3)``, batch 4, on the same
  preprocessed train/validation tensors (lungseg's plan: lung window, 256 px letterbox), no augmentation,
  same torch seed.
Both are scored after every epoch the same way: mean per-slice Dice at threshold 0.5 on the validation
slices at 256 px. The clock runs from the first training step (data already in memory) to the end of
the first epoch whose validation Dice reaches the target; each side stops at the target or the budget.
Time per phase (data loading, forward, backward + optimizer step, validation) is summed over epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KMADER = REPO.parent / "shared" / "data" / "ct-lung-kmader"


def run_lungseg(target: float, minutes: float) -> dict:
    from lungseg.config import RunConfig
    from lungseg.training import train_run

    config = RunConfig()
    config.data.data = str(KMADER)
    config.train.max_minutes = minutes
    config.train.target_val_dice = target  # the recipe's schedule (cosine over 20 epochs), stopped at the target
    with tempfile.TemporaryDirectory() as folder:
        train_run(config, Path(folder) / "run", log=lambda line: print(f"  lungseg {line}", flush=True))
        history = _read_history(Path(folder) / "run" / "history.csv")
    reached = next((row for row in history if row["val_dice"] >= target), None)
    seconds = sum(row["seconds"] for row in history if reached and row["epoch"] <= reached["epoch"])
    phases = {
        phase: round(sum(row[f"{phase}_seconds"] for row in history), 1)
        for phase in ("data", "forward", "backward", "val")
    }
    return {
        "reached": reached is not None,
        "epochs": len(history),
        "seconds_to_target": round(seconds, 1) if reached else None,
        "best_val_dice": round(max(row["val_dice"] for row in history), 4),
        "phases": phases,
        "seconds_per_epoch": round(sum(row["seconds"] for row in history) / len(history), 1),
    }


def _read_history(path: Path) -> list[dict]:
    import csv

    with path.open() as handle:
        return [{key: float(value) for key, value in row.items()} for row in csv.DictReader(handle)]


def run_monai(target: float, minutes: float) -> dict:
    import numpy as np
    import torch
    from monai.losses import DiceCELoss
    from monai.networks.nets import UNet

    from lungseg.config import PreprocessConfig
    from lungseg.data import SliceDataset, find_pairs, load_pair, make_split, resolve_folders
    from lungseg.metrics import segmentation_metrics
    from lungseg.preprocessing import PreprocessPlan

    pairs = {pair.name: pair for pair in find_pairs(*resolve_folders(KMADER))}
    split = make_split(list(pairs), "70/20/10", 0)
    train_pairs = [load_pair(pairs[name]) for name in split.train]
    val_pairs = [load_pair(pairs[name]) for name in split.val]
    plan = PreprocessPlan.fit(PreprocessConfig(), [(p.name, p.image) for p in train_pairs])
    train_set, val_set = SliceDataset(train_pairs, plan), SliceDataset(val_pairs, plan)
    images = torch.from_numpy(train_set.images)[:, None]
    masks = torch.from_numpy(train_set.masks.astype(np.float32))[:, None]
    torch.manual_seed(0)
    model = UNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=1,
        channels=(16, 32, 64, 128, 256),
        strides=(2, 2, 2, 2),
        num_res_units=2,
    )
    loss_fn, optimizer = DiceCELoss(sigmoid=True), torch.optim.Adam(model.parameters(), lr=1e-3)
    phases = {"data": 0.0, "forward": 0.0, "backward": 0.0, "val": 0.0}
    elapsed, epoch, best, reached = 0.0, 0, 0.0, None
    while elapsed < minutes * 60 and reached is None:
        epoch += 1
        start = time.perf_counter()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch))
        model.train()
        for first in range(0, len(order), 4):
            clock = time.perf_counter()
            index = order[first : first + 4]
            batch, truth = images[index], masks[index]
            phases["data"] += time.perf_counter() - clock
            clock = time.perf_counter()
            optimizer.zero_grad()
            loss = loss_fn(model(batch), truth)
            phases["forward"] += time.perf_counter() - clock
            clock = time.perf_counter()
            loss.backward()
            optimizer.step()
            phases["backward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        dice = _validate(model, val_set, segmentation_metrics)
        phases["val"] += time.perf_counter() - clock
        elapsed += time.perf_counter() - start
        best = max(best, dice)
        print(f"  monai epoch {epoch}: val Dice {dice:.4f}, {time.perf_counter() - start:.1f}s", flush=True)
        if dice >= target:
            reached = elapsed
    return {
        "reached": reached is not None,
        "epochs": epoch,
        "seconds_to_target": round(reached, 1) if reached else None,
        "best_val_dice": round(best, 4),
        "phases": {k: round(v, 1) for k, v in phases.items()},
        "seconds_per_epoch": round(elapsed / epoch, 1),
    }


def _validate(model, val_set, segmentation_metrics) -> float:
    import numpy as np
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for first in range(0, len(val_set), 8):
            batch = torch.from_numpy(val_set.images[first : first + 8])[:, None]
            predictions = (torch.sigmoid(model(batch)) > 0.5).numpy()[:, 0]
            for prediction, truth in zip(predictions, val_set.masks[first : first + 8] > 0):
                scores.append(segmentation_metrics(prediction, truth, with_hd95=False)["dice"])
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.97)
    parser.add_argument("--minutes", type=float, default=20.0, help="budget per side")
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "train_speed.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    results = {"lungseg": run_lungseg(args.target, args.minutes), "monai": run_monai(args.target, args.minutes)}
    ours, theirs = results["lungseg"]["seconds_to_target"], results["monai"]["seconds_to_target"]
    ratio = round(theirs / ours, 2) if ours and theirs else None
    # a side that misses the target within the budget gives a bound: the other is at least budget/time faster
    at_least = round(args.minutes * 60 / ours, 2) if ours and not theirs else None
    output = {
        "target_val_dice": args.target,
        "budget_minutes": args.minutes,
        "speedup_vs_monai": ratio,
        "speedup_vs_monai_at_least": at_least,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
        },
        **results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(output, indent=1))
    print(
        f"\n| recipe | reached {args.target} | epochs | s to target | s/epoch | best val Dice | data s | "
        "forward s | backward s | val s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, row in results.items():
        p = row["phases"]
        print(
            f"| {name} | {row['reached']} | {row['epochs']} | {row['seconds_to_target']} | {row['seconds_per_epoch']} "
            f"| {row['best_val_dice']} | {p['data']} | {p['forward']} | {p['backward']} | {p['val']} |"
        )
    if ratio:
        print(f"\nlungseg is {ratio}x faster to val Dice {args.target}")
    elif at_least:
        print(f"\nMONAI missed val Dice {args.target} in {args.minutes} min: lungseg is at least {at_least}x faster")
    else:
        print(f"\nlungseg missed val Dice {args.target} in {args.minutes} min")


if __name__ == "__main__":
    main()
