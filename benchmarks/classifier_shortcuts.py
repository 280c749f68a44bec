"""Does the classifier read marks or file formats? Accuracy of the cross-validated fold models when the
input changes in ways that carry no anatomy.

    .venv/bin/python benchmarks/classifier_shortcuts.py [--candidate resnet18-128]

For every fold model of ``benchmarks/classifier_cv.py``'s candidate (runs/classifier-cv/NAME/fold-I),
on its own validation fold (one picture per distinct slice), the accuracy and balanced accuracy:
- ``as trained``: coloured marks painted out (what lungseg always does);
- ``marks kept``: the same files read as plain gray, so marks stay as gray strokes;
- ``JPEG q70``: the painted picture re-encoded as JPEG at quality 70 (PNG and JPEG files are mixed
  across classes in the set);
- ``PNG -> half size -> back``: resolution lost and restored.
Also the accuracy on the marked pictures only (30 of 34 marked files are "normal"). Prints a table and
writes benchmarks/results/classifier_shortcuts.json.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "chest-ct-cancer"
RESULTS = ROOT / "benchmarks" / "results" / "classifier_shortcuts.json"


def variants(path: Path, painted: np.ndarray) -> dict[str, np.ndarray]:
    from PIL import Image

    from lungseg.io import read_image

    buffer = io.BytesIO()
    Image.fromarray(painted).save(buffer, format="JPEG", quality=70)
    jpeg = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("L"))
    height, width = painted.shape
    small = Image.fromarray(painted).resize((max(8, width // 2), max(8, height // 2)), Image.BILINEAR)
    return {
        "as trained": painted,
        "marks kept": read_image(path),
        "JPEG q70": jpeg,
        "half size and back": np.asarray(small.resize((width, height), Image.BILINEAR)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", default="resnet18-128")
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "classifier-cv")
    args = parser.parse_args()
    from lungseg.data.class_dataset import representatives
    from lungseg.data.class_folders import find_labelled_images, read_picture
    from lungseg.data.slice_groups import group_slices
    from lungseg.inference.classify.classifier import ImageClassifier
    from lungseg.metrics import classification_metrics

    images = {item.name: item for item in find_labelled_images(DATA)}
    read = {name: read_picture(item.path) for name, item in images.items()}
    groups = group_slices(list(images.values()), [read[n].gray for n in images])
    totals: dict[str, list] = {}
    for fold_dir in sorted((args.runs / args.candidate).glob("fold-*")):
        classifier = ImageClassifier.load(fold_dir / "best.pt", check_inputs=False)
        names = representatives([n for n in classifier.card.split.val if n in groups.usable()], groups.group_of)
        truth = np.array([classifier.class_names.index(images[n].label) for n in names])
        marked = np.array([read[n].marked_fraction > 0 for n in names])
        pictures = {n: variants(images[n].path, read[n].gray) for n in names}
        for variant in next(iter(pictures.values())):
            logits = np.concatenate(
                [classifier.logits([pictures[n][variant] for n in names[i : i + 32]]) for i in range(0, len(names), 32)]
            )
            predicted = logits.argmax(1)
            scores = classification_metrics(truth, predicted, classifier.class_names)
            totals.setdefault(variant, []).append(
                {
                    "fold": fold_dir.name,
                    "accuracy": scores.accuracy,
                    "balanced_accuracy": scores.balanced_accuracy,
                    "marked_slices": int(marked.sum()),
                    "marked_correct": int((predicted[marked] == truth[marked]).sum()),
                }
            )
    summary = {
        variant: {
            "accuracy": float(np.mean([r["accuracy"] for r in rows])),
            "balanced_accuracy": float(np.mean([r["balanced_accuracy"] for r in rows])),
            "marked_correct": sum(r["marked_correct"] for r in rows),
            "marked_slices": sum(r["marked_slices"] for r in rows),
            "folds": rows,
        }
        for variant, rows in totals.items()
    }
    RESULTS.write_text(json.dumps({"candidate": args.candidate, "variants": summary}, indent=1))
    print(f"{'input':22s} {'accuracy':>9s} {'balanced':>9s} {'marked slices right':>20s}")
    for variant, row in summary.items():
        print(
            f"{variant:22s} {row['accuracy']:9.3f} {row['balanced_accuracy']:9.3f} "
            f"{row['marked_correct']:>12d} of {row['marked_slices']}"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
