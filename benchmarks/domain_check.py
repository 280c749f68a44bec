"""The in-domain check of every shipped model, measured: pass rate on inputs of its own kind that it was
not fitted on, and catch rate on foreign inputs (``lungseg.preprocessing.domain``).

    .venv/bin/python benchmarks/domain_check.py [--out benchmarks/results/domain_check.json]

Each input is fed as the pipeline feeds that model (the model's own plan: HU windowed, 8-bit scaled,
films normalised; nodule crops 128 px; COVID-19 lesion inputs cropped to the lungs first) and counted as
``in`` (passes), ``unlike`` (flagged: verdict check), ``foreign`` (refused) or ``input-check`` (the
plan already refuses it, e.g. an 8-bit picture to the HU model: caught before the domain check).
Caught = anything but ``in``. Own-kind sets exclude the images each check was fitted on; ``held-out CV``
is the fit's own 5-fold estimate (xray-lung and the COVID-19 models are trained on all their images).
Volumes are per slice here; the pipeline takes the median over the slices with most lung.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
SHARED = REPO / ".." / "shared" / "data"
Images = Callable[[], Iterator[tuple[str, np.ndarray]]]


def files(folder: Path, names: list[str] | None = None, every: int = 1) -> Images:
    def read() -> Iterator[tuple[str, np.ndarray]]:
        from fit_domain import read_stored

        paths = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in (".png", ".jpg", ".tif"))
        if names is not None:
            wanted = set(names)
            paths = [p for p in paths if p.stem in wanted or p.relative_to(folder).as_posix() in wanted]
        for path in paths[::every]:
            yield str(path), read_stored(path)

    return read


def volume_slices(path: Path, every: int = 1) -> Images:
    def read() -> Iterator[tuple[str, np.ndarray]]:
        import SimpleITK as sitk

        from lungseg.io.volumes import read_volume

        volume = sitk.GetArrayFromImage(read_volume(path)).astype(np.float32)
        for z in range(0, len(volume), every):
            yield f"{path.name}[{z}]", volume[z]

    return read


def as_8bit(images: Images, center: float = -600.0, width: float = 1500.0) -> Images:
    """HU slices rendered as 8-bit exports through a window (as PACS exports them)."""

    def read() -> Iterator[tuple[str, np.ndarray]]:
        from lungseg.preprocessing import apply_window

        for name, hu in images():
            yield name, np.rint(apply_window(hu, center, width) * 255).astype(np.uint8)

    return read


def lung_crops(images: Images, masks: Path) -> Images:
    """Slices cropped to their lungs' bounding box (what a lesion model sees)."""

    def read() -> Iterator[tuple[str, np.ndarray]]:
        from lungseg.io.masks import read_mask_array

        for name, image in images():
            mask = read_mask_array(masks / Path(name).name) > 0
            if mask.sum() < 500:
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            yield name, image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    return read


def crops(images: Images, size: int = 128, per_image: int = 2, seed: int = 0) -> Images:
    """Random size x size crops (what the nodule model sees around a point)."""

    def read() -> Iterator[tuple[str, np.ndarray]]:
        rng = np.random.default_rng(seed)
        for name, image in images():
            for k in range(per_image):
                top = rng.integers(0, max(image.shape[0] - size, 0) + 1)
                left = rng.integers(0, max(image.shape[1] - size, 0) + 1)
                yield f"{name}#{k}", image[top : top + size, left : left + size]

    return read


def textures(count: int = 40, hu: bool = False, seed: int = 0) -> Images:
    """Random textures: white noise, smoothed noise, stripes and checkerboards, 512 px."""

    def read() -> Iterator[tuple[str, np.ndarray]]:
        from scipy import ndimage

        rng = np.random.default_rng(seed)
        y, x = np.mgrid[:512, :512]
        for i in range(count):
            kind = ("noise", "smooth", "stripes", "checker")[i % 4]
            if kind == "noise":
                image = rng.random((512, 512))
            elif kind == "smooth":
                image = ndimage.gaussian_filter(rng.random((512, 512)), rng.uniform(2, 12))
                image = (image - image.min()) / (np.ptp(image) + 1e-9)
            elif kind == "stripes":
                image = 0.5 + 0.5 * np.sin(x * rng.uniform(0.05, 0.5) + y * rng.uniform(0, 0.3))
            else:
                cell = int(rng.integers(8, 64))
                image = ((x // cell + y // cell) % 2).astype(float)
            yield (
                f"texture-{kind}-{i}",
                (image * 2000 - 1000).astype(np.float32) if hu else np.rint(image * 255).astype(np.uint8),
            )

    return read


def sets() -> dict[str, tuple[list[tuple[str, Images]], list[tuple[str, Images]]]]:
    """Model -> (own-kind sets, foreign sets)."""
    from fit_domain import card_of

    kmader = SHARED / "ct-lung-kmader"
    held = {name: card_of(name).split for name in ("ct-lung", "ct-lung-8bit", "ct-cancer-type")}
    kmader_held = held["ct-lung"].val + held["ct-lung"].test
    renders_held = held["ct-lung-8bit"].val + held["ct-lung-8bit"].test
    popi = SHARED / "ct-volume-popi" / "dicom"
    abdomen = SHARED / "ct-abdomen-totalseg" / "dicom"
    em = lambda: files(SHARED / "em-membrane-isbi2012")()  # noqa: E731 (images and test_images)
    films = files(SHARED / "xray-lung-montgomery-138" / "images")
    covid = files(SHARED / "covid-infection-pseudo" / "images", every=4)
    msd = files(SHARED / "lung-tumor-msd" / "images")
    cancer_val = files(SHARED / "chest-ct-cancer", held["ct-cancer-type"].val)
    renders = files(REPO / "runs" / "kmader-8bit" / "images", renders_held)
    nodule_held = nodule_fold0()
    return {
        "ct-lung": (
            [
                ("kmader val+test (HU)", files(kmader / "images", kmader_held)),
                ("POPI volume slices", volume_slices(popi)),
            ],
            [
                ("abdominal CT slices (HU)", volume_slices(abdomen)),
                ("random textures (HU)", textures(hu=True)),
                ("EM sections (8-bit)", em),
                ("chest X-rays", films),
            ],
        ),
        "ct-lung-8bit": (
            [
                ("kmader renderings val+test", renders),
                ("chest-ct-cancer val pictures", cancer_val),
                ("MSD tumour exports", msd),
                ("COVID-19 pseudo slices (every 4th)", covid),
            ],
            [
                ("EM sections", em),
                ("chest X-rays", films),
                ("abdominal CT slices (lung window)", as_8bit(volume_slices(abdomen))),
                ("random textures", textures()),
            ],
        ),
        "xray-lung": (
            [
                ("Montgomery films (held-out CV of the fit)", None),
                ("the 4 Montgomery films as 512 px JPEG exports", files(SHARED / "xray-lung-montgomery" / "images")),
            ],
            [
                ("kmader renderings (CT)", renders),
                ("chest-ct-cancer pictures (CT)", cancer_val),
                ("EM sections", em),
                ("abdominal CT slices (lung window)", as_8bit(volume_slices(abdomen))),
                ("random textures", textures()),
            ],
        ),
        **{
            name: (
                [
                    ("COVID-19 pseudo slices, 20 other volumes (every 4th)", covid),
                    ("COVID-19 pseudo slices of the 3 volumes held out of stage 1", stage_one_held_out()),
                    (
                        "kmader lung crops (healthy)",
                        lung_crops(files(kmader / "images", kmader_held), kmader / "masks"),
                    ),
                ],
                [
                    ("EM sections", em),
                    ("chest X-rays", films),
                    ("random textures", textures()),
                ],
            )
            for name in ("covid-infection", "covid-infection-types")
        },
        "lung-nodule": (
            [("LIDC crops of the 33 held-out fold-0 patients", nodule_held)],
            [
                ("EM crops", crops(em)),
                ("chest X-ray crops", crops(films)),
                ("abdominal CT crops (HU)", crops(volume_slices(abdomen, every=4))),
                ("random textures", crops(textures(), per_image=1)),
            ],
        ),
        "ct-cancer-type": (
            [("chest-ct-cancer val split", cancer_val), ("kmader renderings (other scans)", renders)],
            [
                ("EM sections", em),
                ("chest X-rays", films),
                ("abdominal CT slices (lung window)", as_8bit(volume_slices(abdomen))),
                ("random textures", textures()),
            ],
        ),
    }


def stage_one_held_out() -> Images:
    """The pseudo slices of the volumes the semi-supervised pre-training (runs/covid-pretrain) held out
    for validation: never trained on by any model (empty when that run is not here)."""
    split = REPO / "runs" / "covid-pretrain" / "split.json"
    names = [n for n in json.loads(split.read_text())["val"] if n.startswith("Data-1")] if split.is_file() else []
    return files(SHARED / "covid-infection-pseudo" / "images", names)


def nodule_fold0() -> Images:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from nodule_cv import crop_index, fold_of

    rows = crop_index()
    folds = fold_of(sorted({row["patient"] for row in rows}), 5)
    ids = [row["id"] for row in rows if folds[row["patient"]] == 0]
    return files(SHARED / "ct-nodule-lidc" / "images", ids)


def measure(model: str, images: Images) -> dict:
    from fit_domain import card_of
    from lungseg.errors import InputError
    from lungseg.inference.core.domain import load_domain, prepared_input

    card, check = card_of(model), load_domain(model)
    counts = {"in": 0, "unlike": 0, "foreign": 0, "input-check": 0}
    distances = []
    for name, image in images():
        try:
            prepared = prepared_input(card, image, name)
        except InputError:
            counts["input-check"] += 1
            continue
        distance = float(check.distances_of([prepared])[0])
        distances.append(distance)
        counts[check.status(distance)] += 1
    n = sum(counts.values())
    return {
        "n": n,
        **counts,
        "pass_percent": round(100 * counts["in"] / max(n, 1), 1),
        "caught_percent": round(100 * (n - counts["in"]) / max(n, 1), 1),
        "median_distance": round(float(np.median(distances)), 1) if distances else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "domain_check.json")
    parser.add_argument("--only", help="comma-separated model names")
    args = parser.parse_args()
    from lungseg.inference.core.domain import load_domain

    table = {}
    for model, (own, foreign) in sets().items():
        if args.only and model not in args.only.split(","):
            continue
        check = load_domain(model)
        rows = {"threshold": round(check.threshold, 1), "far": round(check.far, 1), "fitted_on": check.fitted_on}
        rows["own"] = {
            label: measure(model, images) if images else {"held_out_cv_false_flag_percent": 0.5}
            for label, images in own
        }
        rows["foreign"] = {label: measure(model, images) for label, images in foreign}
        table[model] = rows
        print(f"\n{model} (threshold {check.threshold:.1f}, refused above {check.far:.1f})")
        print(f"  {'set':58} {'n':>5} {'in':>5} {'unlike':>7} {'foreign':>8} {'input':>6} {'median d':>9}")
        for kind in ("own", "foreign"):
            for label, row in rows[kind].items():
                if "n" not in row:
                    print(f"  {kind}: {label:53} (held-out CV of the fit: 0.5 % flagged by construction)")
                    continue
                print(
                    f"  {kind}: {label:53} {row['n']:5d} {row['in']:5d} {row['unlike']:7d} {row['foreign']:8d} "
                    f"{row['input-check']:6d} {row['median_distance'] or 0:9.1f}"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(table, indent=1) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
