"""Build the shipped ``ct-lung`` model: train it with lungseg's own command, score it, export ONNX and
write src/lungseg/weights/manifest.json (command, data, metrics, sha256 of every file).

    .venv/bin/python tools/release_weights.py [--run runs/ct-lung] [--data ../shared/data/ct-lung-kmader]

With an existing ``RUN/best.pt`` (trained by exactly the command below) the training step is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "lungseg" / "weights"


def lungseg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lungseg", *args], check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def slim_checkpoint(source: Path, target: Path) -> None:
    """Keep what inference and provenance need; drop nothing else (best.pt has no optimizer state)."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    checkpoint.pop("training_state", None)
    torch.save(checkpoint, target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/ct-lung")
    parser.add_argument("--data", default="../shared/data/ct-lung-kmader")
    args = parser.parse_args()
    run = Path(args.run)
    train_command = ["train", "--data", args.data, "--out", str(run)]
    if not (run / "best.pt").is_file():
        lungseg(*train_command)
    lungseg("evaluate", "--model", str(run / "best.pt"), "--data", args.data, "--split", "test",
            "--out", str(run / "eval-test"), "--backend", "torch")
    metrics = json.loads((run / "eval-test" / "metrics.json").read_text())

    WEIGHTS.mkdir(parents=True, exist_ok=True)
    checkpoint, onnx = WEIGHTS / "ct-lung.pt", WEIGHTS / "ct-lung.onnx"
    slim_checkpoint(run / "best.pt", checkpoint)
    lungseg("export", str(onnx), "--model", str(checkpoint))
    shutil.copy(run / "config.yaml", WEIGHTS / "ct-lung.config.yaml")
    manifest = {"models": {"ct-lung": {
        "description": "U-Net (base 16, depth 4) for lungs in axial chest CT slices in HU, 256x256 input, "
                       "lung window L-600/W1500",
        "command": "lungseg " + " ".join(train_command),
        "data": "ct-lung-kmader (Kaggle 'Finding and Measuring Lungs in CT Data', K. Mader; see its SOURCE.txt)",
        "split": "70/20/10 by seed 0 (train/val/test), stored in the checkpoint",
        "test_metrics": {key: metrics[key] for key in ("dice", "iou", "precision", "recall", "specificity", "hd95")},
        "test_n": metrics["n"],
        "files": {
            "checkpoint": {"name": checkpoint.name, "sha256": sha256(checkpoint), "url": None},
            "onnx": {"name": onnx.name, "sha256": sha256(onnx), "url": None},
        },
    }}}
    (WEIGHTS / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest["models"]["ct-lung"]["test_metrics"]["dice"]))


if __name__ == "__main__":
    main()
