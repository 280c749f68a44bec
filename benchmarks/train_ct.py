"""Reproduce the core acceptance run: default `lungseg train` on ct-lung-kmader, then `lungseg evaluate`
on its test split. Prints a table (wall time, epochs, test metrics) and writes results/train_ct.json.

    .venv/bin/python benchmarks/train_ct.py [--data ../shared/data/ct-lung-kmader] [--out runs/bench-ct]

Run it on an otherwise idle machine: the time is the point.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lungseg", *args], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "ct-lung-kmader"))
    parser.add_argument("--out", default=str(REPO / "runs" / "bench-ct"))
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "train_ct.json"))
    args = parser.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)

    train_seconds = run("train", "--data", args.data, "--out", str(out))
    eval_seconds = run(
        "evaluate",
        "--model",
        str(out / "best.pt"),
        "--data",
        args.data,
        "--split",
        "test",
        "--out",
        str(out / "eval-test"),
    )
    history = list(csv.DictReader((out / "history.csv").open()))
    metrics = json.loads((out / "eval-test" / "metrics.json").read_text())
    best = min(history, key=lambda row: float(row["val_loss"]))

    import torch

    result = {
        "command": f"lungseg train --data {args.data} --out {out}",
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "train_wall_seconds": round(train_seconds, 1),
        "evaluate_wall_seconds": round(eval_seconds, 1),
        "epochs_run": len(history),
        "best_epoch": int(best["epoch"]),
        "seconds_per_epoch": round(sum(float(r["seconds"]) for r in history) / len(history), 1),
        "best_val_dice": round(float(best["val_dice"]), 4),
        "test": {
            key: metrics[key]
            for key in ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95", "n", "n_empty_gt")
        },
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))

    rows = [
        ("train wall time", f"{train_seconds / 60:.1f} min"),
        ("epochs run", str(len(history))),
        ("best epoch (val loss)", str(best["epoch"])),
        ("s / epoch", str(result["seconds_per_epoch"])),
        ("evaluate wall time", f"{eval_seconds:.1f} s"),
        ("test slices", str(metrics["n"])),
    ]
    for key in ("dice", "iou", "accuracy", "precision", "recall", "specificity", "hd95"):
        stats = metrics[key]
        rows.append((f"test {key}", f"{stats['mean']:.4f} ± {stats['std']:.4f} (median {stats['median']:.4f})"))
    width = max(len(name) for name, _ in rows)
    print(f"\n| {'measure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
