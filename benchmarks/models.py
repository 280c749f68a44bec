"""Model zoo comparison on real data under one wall-clock training budget per model and dataset.

For every model: parameters, GFLOPs per image (torch FlopCounterMode, forward pass, 1 image),
training images/s (forward + backward + Adam step, batch 4), inference images/s (batch 8), and test
Dice / IoU (lungseg evaluate on the seeded test split, original pixel grid). Each run gets the same
budget: its epoch count is set from a measured step time so that the cosine schedule completes
within ``--minutes``. Encoders start from random weights (no ImageNet download on this machine).

    .venv/bin/python benchmarks/models.py [--minutes 2.5]

Writes results/models.json and results/models.md. Run on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch

from lungseg.config import RunConfig
from lungseg.data import find_pairs, resolve_folders
from lungseg.inference import Predictor, evaluate_pairs, select_pairs
from lungseg.models import build_model
from lungseg.training import train_run

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
MODELS = [
    ("unet", {}),
    ("unet", {"se": True, "bottleneck": "dilated"}),
    ("attention-unet", {}),
    ("unet++", {}),
    ("resnet34-unet", {}),
    ("efficientnet-b4-unet", {}),
    ("resnet34-unet++", {}),
]
DATASETS = {"ct-lung-kmader": 128, "em-membrane-isbi2012": 256}
# 24 labelled EM sections: 70/10/20 keeps 17 for training and scores 5 instead of 2
SPLITS = {"ct-lung-kmader": "70/20/10", "em-membrane-isbi2012": "70/10/20"}


def label(name: str, kwargs: dict) -> str:
    return name + "".join(f" {k}={v}" for k, v in kwargs.items())


def gflops(model: torch.nn.Module, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def train_step_seconds(model: torch.nn.Module, size: int, batch: int = 4, steps: int = 4) -> float:
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    y = (torch.rand(batch, 1, size, size) > 0.5).float()
    model = model.to(memory_format=torch.channels_last)
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        optimizer.zero_grad()
        output = model(x)
        outputs = output if isinstance(output, list) else [output]
        sum(torch.nn.functional.binary_cross_entropy_with_logits(o, y) for o in outputs).backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps


def inference_images_per_second(model: torch.nn.Module, size: int, batch: int = 8) -> float:
    model.eval()
    x = torch.rand(batch, 1, size, size).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        model(x)
    return batch / (time.perf_counter() - start)


def run_one(
    name: str, kwargs: dict, dataset: str, size: int, minutes: float, scratch: Path, border: bool = False
) -> dict:
    data = SHARED / dataset
    model = build_model(name, **kwargs)
    step = train_step_seconds(model, size)
    n_train = round(0.7 * len(find_pairs(*resolve_folders(data))))
    config = RunConfig()
    config.data.split = SPLITS[dataset]
    epoch_seconds = 1.15 * math.ceil(n_train / 4) * step  # + validation and augmentation
    epochs = max(1, int(minutes * 60 / epoch_seconds))
    config.data.data = str(data)
    config.preprocess.image_size = size
    config.model.name, config.model.kwargs = name, dict(kwargs)
    config.train.epochs, config.train.max_minutes = epochs, minutes * 1.1
    config.train.early_stopping_patience = epochs  # the budget, not patience, ends the run
    config.train.border_weights = border
    out = scratch / f"{dataset}-{label(name, kwargs).replace(' ', '_')}-{border}"
    start = time.perf_counter()
    result = train_run(config, out, log=lambda line: None)
    train_seconds = time.perf_counter() - start
    predictor = Predictor.load(out / "best.pt")
    pairs = select_pairs(predictor.card, data, None, None, "test")
    summary = evaluate_pairs(predictor, pairs, out / "eval", log=lambda line: None)
    return {
        "dataset": dataset,
        "model": label(name, kwargs),
        "image_size": size,
        "border_weights": border,
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "gflops": round(gflops(build_model(name, **kwargs), size), 2),
        "train_img_s": round(4 / step, 2),
        "infer_img_s": round(inference_images_per_second(model, size), 1),
        "epochs": result.epochs_run,
        "train_minutes": round(train_seconds / 60, 2),
        "test_n": summary["n"],
        "test_dice": round(summary["dice"]["mean"], 4),
        "test_iou": round(summary["iou"]["mean"], 4),
    }


def markdown(rows: list[dict]) -> str:
    lines = [
        "| dataset | model | params (M) | GFLOPs/img | train img/s | infer img/s | epochs in budget | "
        "test Dice | test IoU |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        name = r["model"] + (" + border weights" if r["border_weights"] else "")
        lines.append(
            f"| {r['dataset']} ({r['image_size']} px) | {name} | {r['params_m']} | {r['gflops']} | "
            f"{r['train_img_s']} | {r['infer_img_s']} | {r['epochs']} | {r['test_dice']:.4f} | "
            f"{r['test_iou']:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.5, help="training budget per model and dataset")
    parser.add_argument("--only", nargs="*", help="model names to run (default: all)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for dataset, size in DATASETS.items():
            for name, kwargs in MODELS:
                if args.only and name not in args.only:
                    continue
                rows.append(run_one(name, kwargs, dataset, size, args.minutes, Path(scratch)))
                print(json.dumps(rows[-1]), flush=True)
        em = [r for r in rows if r["dataset"] == "em-membrane-isbi2012"]
        if em:
            best = max(em, key=lambda r: r["test_dice"])
            name, kwargs = next((n, k) for n, k in MODELS if label(n, k) == best["model"])
            rows.append(run_one(name, kwargs, "em-membrane-isbi2012", 256, args.minutes, Path(scratch), border=True))
            print(json.dumps(rows[-1]), flush=True)
    table = markdown(rows)
    print("\n" + table)
    results = REPO / "benchmarks" / "results"
    (results / "models.json").write_text(json.dumps({"minutes_per_run": args.minutes, "rows": rows}, indent=1))
    (results / "models.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
