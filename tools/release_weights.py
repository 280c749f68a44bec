"""Build the shipped models: train each with lungseg's own commands, score it, export ONNX and write
src/lungseg/weights/manifest.json (command, data, metrics, sha256 of every file).

    .venv/bin/python tools/release_weights.py                       # every model (make weights)
    .venv/bin/python tools/release_weights.py --only covid-infection,lung-nodule

- ``ct-lung``: trained and scored on the seeded 70/20/10 split of ct-lung-kmader (test metrics).
- ``ct-lung-8bit``: the same slices rendered as 8-bit exports (tools/render_8bit.py), started from
  ``ct-lung``'s weights; test metrics on the renderings of the test split. ``ct-lung`` names it as its
  ``eight_bit_variant``, so ``--model ct-lung`` takes 8-bit exports too.
- ``ct-cancer-type``: ``recipes/ct-cancer-type.yaml``, the candidate of ``benchmarks/classifier_cv.py``
  that the cross-validation chose (the manifest's metrics are its fold means ± sd; a test keeps recipe
  and candidate equal), then trained on 85 % of the distinct slices (15 % for early stopping and the
  temperature); its ``new_scans`` block is the recipe's scan-disjoint cross-validation
  (``benchmarks/classifier_scan_cv.py --only recipe``, copied as ``tools/classifier_new_scans.py`` does).
- ``xray-lung``: ``recipes/xray-lung.yaml``; 5-fold cross-validation over the 138 Montgomery films by
  ``benchmarks/xray_cv.py`` (the manifest's metrics: all films, normal and TB apart, shifted films),
  then trained on all 138.
- ``lung-nodule``: ``recipes/lung-nodule.yaml`` on the folder of ``tools/nodule_training_set.py`` (the
  LIDC crops and crops without a nodule); 5-fold cross-validation by patient by ``benchmarks/nodule_cv.py``
  (the manifest's metrics: per-slice and per-nodule Dice, small nodules apart, candidate sensitivity, next
  to the readers' agreement). The shipped model is fold 0's model (``--without-fold 0``: its 33 held-out
  patients were never seen), not a model of all crops: its held-out score is measured, not assumed.
- ``lung-nodule-search``: ``recipes/lung-nodule-search.yaml`` (the nodule anywhere in the window) on the same
  folder; ``lung-nodule`` names it as its ``search_variant``: the automatic candidates are searched with it,
  points are segmented with ``lung-nodule``. Also fold 0's model (``benchmarks/nodule_cv.py --tag anywhere``).
- every model: its in-domain check (``tools/fit_domain.py``: a k-NN distance on image statistics of its
  own training images, stored as ``<name>.domain.npz`` beside the weights) after the model is released.
- ``covid-infection`` is semi-supervised (issue 26): its ``prepare`` step builds the pre-training folder
  and runs stage 1 (``tools/covid_pretrain_set.py --train runs/covid-pretrain``), and its recipe starts from
  ``runs/covid-pretrain/best.pt``.
- lesion models (``covid-infection``): k-fold cross-validation with the recipe (the manifest's metrics
  are the fold means ± sd), then the shipped model is trained with the same recipe on all the training
  slices. ``covid-infection-types`` is not trained: ``tools/gray_split_types.py`` splits covid-infection's
  mask by a gray level fitted on the typed slices, per fold of its cross-validation (the metrics) and
  for the shipped network (issue 26). ``lung-tumor`` is retired (issue 25; its recipe is kept as
  ``recipes/candidates/lung-tumor.yaml``): ``lung-nodule`` replaces it.

A step whose output exists (``RUN/best.pt``, ``CV/cv_summary.json``, the rendered folder) is skipped, so
an interrupted release resumes; the other models' manifest entries are kept.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "lungseg" / "weights"
SHARED = "../shared/data"
COVID = f"{SHARED}/covid-infection/train"
METRICS = ("dice", "iou", "precision", "recall", "specificity", "hd95")


@dataclass(frozen=True)
class Release:
    description: str
    data: str
    train: list[str]
    run: str
    split: str
    prepare: list[str] = field(default_factory=list)  # a python command run first (tools/...)
    prepared: str | None = None  # ... skipped when this folder exists
    evaluate: list[str] = field(default_factory=list)  # test-split scoring (split models)
    cv: list[str] = field(default_factory=list)  # cross-validation (lesion models)
    cv_out: str | None = None
    extra: dict = field(default_factory=dict)  # more manifest keys
    classifier_cv: str | None = None  # classifiers: the candidate of benchmarks/classifier_cv.py
    xray_cv: str | None = None  # X-ray: the tag of benchmarks/xray_cv.py (5-fold CV)
    nodule_cv: str | None = None  # nodules: the tag of benchmarks/nodule_cv.py (5-fold CV by patient)
    new_scans: str | None = None  # classifiers: the recipe's result of benchmarks/classifier_scan_cv.py


# The terms of each model's training data, written into its manifest entry (README "Training data and
# licences of the shipped weights" says what they mean for users of the weights).
KMADER_TERMS = "ct-lung-kmader: Kaggle dataset kmader/finding-lungs-in-ct-data, no licence file; see its page, cite it"
LICENCES = {
    "ct-lung": KMADER_TERMS,
    "ct-lung-8bit": KMADER_TERMS,
    "covid-infection": "covid-infection (MedSeg/SIRM via Inf-Net: free use with citation) and covid-infection-pseudo "
    "(coronacases.org: research use; Radiopaedia: CC BY-NC-SA 3.0, non-commercial, share-alike), cite Ma J. et al. "
    "2021 and Fan D.-P. et al. 2020: use these weights for non-commercial research only; kmader negatives: "
    + KMADER_TERMS,
    "covid-infection-types": "as covid-infection (its network): covid-infection (MedSeg/SIRM via Inf-Net: free use "
    "with citation) and covid-infection-pseudo (coronacases.org: research use; Radiopaedia: CC BY-NC-SA 3.0, "
    "non-commercial, share-alike), cite Ma J. et al. 2021 and Fan D.-P. et al. 2020: use these weights for "
    "non-commercial research only; kmader negatives: " + KMADER_TERMS,
    "ct-cancer-type": "chest-ct-cancer: CC0 as stated by its mirror (Kaggle mohamedhanyyy/chest-ctscan-images)",
    "xray-lung": "Montgomery County set (NLM): research use with attribution "
    "(Jaeger S. et al. 2014, Candemir S. et al. 2014)",
    "lung-nodule-search": "LIDC-IDRI: CC BY 3.0 (Armato S.G. III et al. 2011; Clark K. et al. 2013); "
    f"negatives: {KMADER_TERMS}",
    "lung-nodule": "LIDC-IDRI: CC BY 3.0 (Armato S.G. III et al. 2011; Clark K. et al. 2013); "
    f"negatives: {KMADER_TERMS}",
}


def covid_release(name: str, masks: str, description: str) -> Release:
    """A model of the COVID-19 slices: 5-fold CV with its recipe, then the same recipe on all 50 slices."""
    data = ["--config", f"recipes/{name}.yaml", "--images", f"{COVID}/images", "--masks", f"{COVID}/{masks}"]
    return Release(
        description,
        f"covid-infection/train {masks} (Inf-Net COVID-SemiSeg, 50 slices; see its SOURCE.txt)",
        ["train", *data, "--split", "100/0/0", "--out", f"runs/{name}"],
        f"runs/{name}",
        "all 50 training slices (no held-out part: see the cross-validation)",
        cv=["cv", "--folds", "5", *data, "--out", f"runs/cv-{name}"],
        cv_out=f"runs/cv-{name}",
    )


def nodule_release(
    name: str, run: str, tag: str, description: str, data: str, split: str, extra: dict | None = None
) -> Release:
    """A nodule model: ``recipes/<name>.yaml`` on the folder of ``tools/nodule_training_set.py`` without CV
    fold 0 (its 33 patients held out), scored by ``benchmarks/nodule_cv.py --tag <tag>``."""
    folder = "runs/lung-nodule-data"
    return Release(
        description,
        data,
        ["train", "--config", f"recipes/{name}.yaml", "--data", folder, "--set", "train.threads=2", "--out", run],
        run,
        split,
        prepare=["tools/nodule_training_set.py", folder, "--without-fold", "0"],
        prepared=folder,
        nodule_cv=tag,
        extra=extra or {},
    )


RELEASES = {
    "ct-lung": Release(
        "U-Net (base 16, depth 4) for lungs in axial chest CT slices in HU, 256x256 input, lung window L-600/W1500",
        "ct-lung-kmader (Kaggle 'Finding and Measuring Lungs in CT Data', K. Mader; see its SOURCE.txt)",
        ["train", "--data", f"{SHARED}/ct-lung-kmader", "--out", "runs/ct-lung"],
        "runs/ct-lung",
        "70/20/10 by seed 0 (train/val/test), stored in the checkpoint",
        evaluate=["--data", f"{SHARED}/ct-lung-kmader", "--split", "test"],
        extra={"eight_bit_variant": "ct-lung-8bit"},
    ),
    "ct-lung-8bit": Release(
        "U-Net (base 16, depth 4) for lungs in 8-bit CT exports (PNG/JPG through any window, whole or cropped to "
        "the lungs), 256x256 input; started from ct-lung",
        "ct-lung-kmader rendered by `python tools/render_8bit.py ../shared/data/ct-lung-kmader runs/kmader-8bit` "
        "(2 renderings per slice, seed 0)",
        [
            "train",
            "--data",
            "runs/kmader-8bit",
            "--group-pattern",
            r"^(ID_\d+)",
            "--set",
            "train.init_from=ct-lung",
            "--set",
            "preprocess.intensity=8bit",
            "--epochs",
            "12",
            "--max-minutes",
            "16",
            "--out",
            "runs/ct-lung-8bit",
        ],
        "runs/ct-lung-8bit",
        "70/20/10 by seed 0 grouped by slice (both renderings of a slice in one subset)",
        prepare=["tools/render_8bit.py", f"{SHARED}/ct-lung-kmader", "runs/kmader-8bit"],
        prepared="runs/kmader-8bit",
        evaluate=["--data", "runs/kmader-8bit", "--split", "test"],
    ),
    "covid-infection": replace(
        covid_release(
            "covid-infection",
            "masks_infection",
            "U-Net (base 16, depth 4) for COVID-19 infection in 8-bit CT slices cropped to the lungs (HU input "
            "through the measured export window L-380/W1170), 256x256 input; semi-supervised: pre-trained on "
            "1,600 pseudo-labelled slices of 20 volumes and 362 healthy lung crops, fine-tuned on the 50 labelled",
        ),
        data="covid-infection/train masks_infection (Inf-Net COVID-SemiSeg, 50 radiologist-labelled slices) after "
        "stage 1 on covid-infection-pseudo (1,600 PSEUDO-labelled slices of 20 volumes) and 362 lung crops of "
        "kmader training/validation slices with empty masks (tools/covid_pretrain_set.py; see the SOURCE.txt files)",
        prepare=["tools/covid_pretrain_set.py", "runs/covid-pretrain-data", "--train", "runs/covid-pretrain"],
        prepared="runs/covid-pretrain/best.pt",  # a file: the tool always runs, and skips what is done
    ),
    "covid-infection-types": Release(
        "covid-infection's U-Net with its infection mask split into ground-glass opacity (below) and "
        "consolidation (at or above) by one gray level of its 8-bit input fitted on the 50 typed slices "
        "(gray-split-unet; softmax over background / ground glass / consolidation), 256x256 input",
        "covid-infection (its network, see there) and covid-infection/train masks_multiclass (Inf-Net "
        "COVID-SemiSeg, 50 typed slices: the gray level)",
        [],
        "runs/covid-infection-types-split",
        "covid-infection's (all 50 labelled slices; no held-out part: see the cross-validation, the same "
        "construction on each fold of covid-infection's cross-validation)",
        prepare=[
            "tools/gray_split_types.py",
            "--binary",
            "runs/covid-infection/best.pt",
            "--cv",
            "runs/cv-covid-infection",
            "--out",
            "runs/covid-infection-types-split",
        ],
        prepared="runs/covid-infection-types-split",
        cv_out="runs/covid-infection-types-split/cv",
    ),
    "ct-cancer-type": Release(
        "ResNet-18 (timm, from random weights, 128 px) classifying an axial chest CT slice picture as "
        "adenocarcinoma, large cell carcinoma, squamous cell carcinoma or normal; calibrated confidence "
        "(temperature scaling), Grad-CAM",
        "chest-ct-cancer train+valid (Kaggle 'Chest CT-Scan images'; 685 files, 485 distinct slices after the "
        "duplicate audit; see its SOURCE.txt)",
        [
            "classify",
            "train",
            "--config",
            "recipes/ct-cancer-type.yaml",
            "--data",
            f"{SHARED}/chest-ct-cancer",
            "--split",
            "85/15/0",
            "--out",
            "runs/ct-cancer-type",
        ],
        "runs/ct-cancer-type",
        "85/15 by seed 0, stratified by class, copies of one slice kept together (validation: "
        "early stopping and the temperature); no test part: see the cross-validation",
        classifier_cv="resnet18-128",
        new_scans="recipe [scan-disjoint, cut 1.0]",
        extra={"task": "classification"},
    ),
    "xray-lung": Release(
        "U-Net (base 16, depth 4) for both lung fields in frontal chest radiographs (8/16-bit pictures or "
        "DICOM CR/DX through their VOI LUT; percentiles 0.5..99.5 to [0, 1], then CLAHE clip 2), 256x256 input; "
        "right/left by field",
        "xray-lung-montgomery-138 (all 138 Montgomery County chest X-rays, 80 normal and 58 tuberculosis, "
        "512x512 8-bit, NLM lung masks; research use with attribution, see its SOURCE.txt)",
        [
            "train",
            "--config",
            "recipes/xray-lung.yaml",
            "--data",
            f"{SHARED}/xray-lung-montgomery-138",
            "--set",
            "train.threads=1",
            "--out",
            "runs/xray-lung",
        ],  # one thread, as its cross-validation folds
        "runs/xray-lung",
        "all 138 films (no held-out part: see the 5-fold cross-validation by film)",
        xray_cv="recipe",
    ),
    "lung-nodule": nodule_release(
        "lung-nodule",
        "runs/lung-nodule",
        "recipe",
        "U-Net (base 16, depth 4) for the nodule in a 128x128 axial crop at 0.7 mm per pixel around a point "
        "(lungseg nodule; automatic candidates in windows over the lungs); 8-bit crops in a lung window "
        "estimated at -1000..+1000 HU, HU input rendered through it",
        "ct-nodule-lidc (crops of the 128 LIDC-IDRI patients outside cross-validation fold 0, consensus of 4 "
        "readers at 2 of 4; CC BY 3.0, Armato et al. 2011, see its SOURCE.txt) plus 564 crops without a nodule "
        "from the kmader slices of ct-lung's training split (tools/nodule_training_set.py)",
        "the training part of patient-grouped CV fold 0 (benchmarks/nodule_cv.py: 128 patients); the 33 patients "
        "of fold 0 were never seen and give its held-out score (the same run as runs/nodule-cv/recipe/fold-0)",
        extra={"search_variant": "lung-nodule-search"},
    ),
    "lung-nodule-search": nodule_release(
        "lung-nodule-search",
        "runs/nodule-cv/anywhere/fold-0/run",
        "anywhere",
        "U-Net (base 16, depth 4) for nodules anywhere in a 128x128 axial window at 0.7 mm per pixel: the model of "
        "lung-nodule's automatic candidate search (its search_variant; trained with the crop shifted up to +-38 px)",
        "the same crops as lung-nodule (ct-nodule-lidc outside CV fold 0, plus 564 crops without a nodule from "
        "kmader slices of ct-lung's training split)",
        "the training part of patient-grouped CV fold 0 (benchmarks/nodule_cv.py --tag anywhere); the 33 patients "
        "of fold 0 were never seen and give its held-out score and detection sensitivity",
    ),
}


def lungseg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "lungseg", *args], check=True)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def benchmark_result(script: str, key: str, option: str) -> tuple[dict, str]:
    """Entry ``key`` of benchmarks/results/<script>.json and the command that makes it
    (``python benchmarks/<script>.py <option> <key>``), run first when the committed results lack it (the
    manifest quotes the same numbers as benchmarks/README)."""
    results = REPO / "benchmarks" / "results" / f"{script}.json"
    command = ["python", f"benchmarks/{script}.py", option, key]
    found = json.loads(results.read_text()).get(key) if results.is_file() else None
    if found is None:
        subprocess.run([sys.executable, *command[1:]], check=True)
        found = json.loads(results.read_text())[key]
    return found, " ".join(command)


def slim_checkpoint(source: Path, target: Path) -> None:
    """Keep what inference and provenance need (best.pt has no optimizer state; drop any training state)."""
    import torch

    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    checkpoint.pop("training_state", None)
    torch.save(checkpoint, target)


def release(name: str, spec: Release) -> dict:
    run = Path(spec.run)
    if spec.prepare and not Path(spec.prepared).is_dir():
        subprocess.run([sys.executable, *spec.prepare], check=True)
    entry = {
        "description": spec.description,
        "command": "lungseg " + " ".join(spec.train) if spec.train else "python " + " ".join(spec.prepare),
        "data": spec.data,
        "split": spec.split,
    }
    if spec.cv_out:  # cross-validated by ``lungseg cv`` (spec.cv), or by the prepare step in its layout
        if not (Path(spec.cv_out) / "cv_summary.json").is_file():
            lungseg(*spec.cv)
        summary = json.loads((Path(spec.cv_out) / "cv_summary.json").read_text())
        entry["cv_command"] = "lungseg " + " ".join(spec.cv) if spec.cv else entry["command"]
        entry["cv_metrics"] = {
            key: {"mean": summary["across_folds"][key]["mean"], "sd": summary["across_folds"][key]["sd"]}
            for key in METRICS
        }
        if "per_class" in summary:
            entry["cv_metrics_per_class"] = {
                cls: {key: {"mean": v[key]["mean"], "sd": v[key]["sd"]} for key in METRICS}
                for cls, v in summary["per_class"].items()
            }
        entry["cv_n_per_fold"] = summary["n_per_fold"]
    if spec.classifier_cv:
        found, entry["cv_command"] = benchmark_result("classifier_cv", spec.classifier_cv, "--only")
        entry["cv_metrics"] = {
            key: {"mean": value[0], "sd": value[1]} for key, value in found["mean_sd"].items() if key != "minutes"
        }
        entry["cv_folds"] = found["folds_k"]
    if spec.xray_cv:
        found, entry["cv_command"] = benchmark_result("xray_cv", spec.xray_cv, "--tag")
        folds = found["over_folds"]
        entry["cv_metrics"] = {
            "dice": dict(zip(("mean", "sd"), folds["all_dice"])),
            "dice_tb": dict(zip(("mean", "sd"), folds["tb_dice"])),
            "dice_normal": dict(zip(("mean", "sd"), folds["normal_dice"])),
            "dice_product": dict(zip(("mean", "sd"), folds["all_dice_product"])),
        }
        entry["cv_folds"] = found["k"]
        entry["cv_shifted_films"] = {key: value[0] for key, value in found["shifted_mean"].items()}
    if spec.nodule_cv:
        found, entry["cv_command"] = benchmark_result("nodule_cv", spec.nodule_cv, "--tag")
        summary = found["summary"]
        entry["cv_metrics"] = {
            key: dict(zip(("mean", "sd"), summary[key]))
            for key in ("slice_dice", "nodule_dice", "nodule_dice_small", "nodule_dice_6mm_up", "detection_sensitivity")
        }
        entry["cv_folds"] = found["k"]
        entry["cv_folds_scored"] = [fold["fold"] for fold in found["folds"]]
        entry["readers"] = found["readers"]
        entry["off_nodule_crops_called"] = f"{found['off_nodule']['any_called']} of {found['off_nodule']['n']}"
    if prepare := spec.prepare:
        entry["prepare_command"] = "python " + " ".join(prepare)
    if not (run / "best.pt").is_file():
        if not spec.train:
            raise SystemExit(f"{name}: its prepare step did not write {run / 'best.pt'}")
        lungseg(*spec.train)
    if spec.evaluate:
        lungseg(
            "evaluate",
            "--model",
            str(run / "best.pt"),
            *spec.evaluate,
            "--out",
            str(run / "eval-test"),
            "--backend",
            "torch",
        )
        metrics = json.loads((run / "eval-test" / "metrics.json").read_text())
        entry["test_metrics"] = {key: metrics[key] for key in METRICS}
        entry["test_n"] = metrics["n"]
    checkpoint, onnx = WEIGHTS / f"{name}.pt", WEIGHTS / f"{name}.onnx"
    slim_checkpoint(run / "best.pt", checkpoint)
    lungseg("export", str(onnx), "--model", str(checkpoint))
    shutil.copy(run / "config.yaml", WEIGHTS / f"{name}.config.yaml")
    entry.update(spec.extra)
    if spec.new_scans:  # what to expect on scans never seen (tools/classifier_new_scans.py)
        from classifier_new_scans import new_scans_block

        entry["new_scans"] = new_scans_block(spec.new_scans)
    entry["licence"] = LICENCES[name]
    entry["files"] = {
        "checkpoint": {"name": checkpoint.name, "sha256": sha256(checkpoint), "url": None},
        "onnx": {"name": onnx.name, "sha256": sha256(onnx), "url": None},
    }
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(RELEASES), help="comma-separated model names")
    args = parser.parse_args()
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in names if name not in RELEASES]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(RELEASES)}")
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    manifest_path = WEIGHTS / "manifest.json"
    for name in names:
        entry = release(name, RELEASES[name])
        manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"models": {}}
        manifest["models"][name] = entry
        manifest["models"] = {key: manifest["models"][key] for key in RELEASES if key in manifest["models"]}
        temporary = manifest_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(manifest, indent=2) + "\n")
        temporary.replace(manifest_path)
        # the in-domain check, fitted on the training images just used (tools/fit_domain.py)
        subprocess.run([sys.executable, str(REPO / "tools" / "fit_domain.py"), "--only", name], check=True)
        metrics = entry.get("test_metrics", entry.get("cv_metrics", {}))
        print(name, json.dumps(metrics.get("dice", metrics.get("accuracy"))))


if __name__ == "__main__":
    main()
