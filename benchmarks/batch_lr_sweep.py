"""Why the default batch size and learning rate: short runs (5 epochs, 128 px, otherwise the default
config) on ct-lung-kmader for two seeds per setting. Prints a table of final train loss and
validation Dice and writes results/batch_lr_sweep.json. Losses are deterministic for a seed, so this
may run beside other work; its seconds are not the point.

    .venv/bin/python benchmarks/batch_lr_sweep.py
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from lungseg.config import RunConfig
from lungseg.training import train_run

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "ct-lung-kmader"
SETTINGS = [(8, 1e-3, "plateau"), (4, 1e-3, "plateau"), (8, 3e-3, "plateau"), (4, 3e-3, "plateau")]


def short_run(batch_size: int, lr: float, scheduler: str, seed: int, out: Path) -> dict:
    config = RunConfig()
    config.data.data = str(DATA)
    config.preprocess.image_size = 128
    config.train.epochs, config.train.seed, config.train.max_minutes = 5, seed, None
    config.train.batch_size, config.optim.lr, config.optim.scheduler = batch_size, lr, scheduler
    train_run(config, out, log=lambda line: None)
    rows = list(csv.DictReader((out / "history.csv").open()))
    return {"train_loss": float(rows[-1]["train_loss"]), "val_dice": float(rows[-1]["val_dice"])}


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        for batch_size, lr, scheduler in SETTINGS:
            for seed in (0, 1):
                out = Path(scratch) / f"b{batch_size}-lr{lr}-{scheduler}-s{seed}"
                results.append(
                    {
                        "batch_size": batch_size,
                        "lr": lr,
                        "scheduler": scheduler,
                        "seed": seed,
                        **short_run(batch_size, lr, scheduler, seed, out),
                    }
                )
                print(results[-1], flush=True)
    print("\n| batch | lr | seed | train loss (epoch 5) | val Dice (epoch 5) |\n|---|---|---|---|---|")
    for row in results:
        print(
            f"| {row['batch_size']} | {row['lr']:g} | {row['seed']} | {row['train_loss']:.3f} | {row['val_dice']:.4f} |"
        )
    path = REPO / "benchmarks" / "results" / "batch_lr_sweep.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
