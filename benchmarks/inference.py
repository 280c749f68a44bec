"""CT volume inference, end to end (files in, mask file out): lungseg against lungmask and a MONAI U-Net.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/inference.py [--json benchmarks/results/inference.json]

Studies: the POPI DICOM series (71 slices, 512x512) and a 512x512x300 NIfTI made by resampling it.
Each tool runs in its own process (imports included); the process reports its peak RSS.
- lungseg: ``lungseg predict STUDY OUT.nii.gz`` with every default (shipped ct-lung, flip TTA, ONNX Runtime,
  post-processing, left/right split).
- lungmask: its own CLI and pipeline (R231 U-Net, default batch size). Its weights cannot be downloaded
  here, so a randomly initialised R231 is saved and passed with --modelpath: this times the pipeline,
  not its accuracy.
- MONAI: ``monai.networks.nets.UNet`` with the FLOPs of one lungseg pass (random weights, one pass), slice-batched:
  read, window, resize to 256, batches of 16, sigmoid, resize back, threshold, write NIfTI.
GFLOP/s counts the network's forward FLOPs (torch.utils.flop_counter) against this machine's measured
float32 matrix-multiply rate. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POPI = REPO.parent / "shared" / "data" / "ct-volume-popi" / "dicom"
MONAI_CHANNELS = (32, 64, 128, 256, 512)  # with 2 residual units: 6.0 GFLOP per slice, as lungseg's U-Net


def monai_unet():
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=2, in_channels=1, out_channels=1, channels=MONAI_CHANNELS, strides=(2, 2, 2, 2), num_res_units=2
    ).eval()


def lungmask_unet():
    from lungmask.resunet import UNet

    return UNet(n_classes=3, padding=True, depth=5, up_mode="upsample", batch_norm=True, residual=False).eval()


def forward_gflops(model, size: int = 256) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, size, size))
    return counter.get_total_flops() / 1e9


def matmul_gflops() -> float:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(3):
        a @ b
    start, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        a @ b
    return 2 * 2048**3 * repeats / (time.perf_counter() - start) / 1e9


def run_monai(source: str, output: str) -> None:
    """The MONAI reference pipeline (child process)."""
    import numpy as np
    import SimpleITK as sitk
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(os.cpu_count() or 1)
    image = sitk.ReadImage(source) if not Path(source).is_dir() else _read_dicom(source)
    volume = sitk.GetArrayFromImage(image).astype(np.float32)
    model = monai_unet()
    mask = np.zeros(volume.shape, np.uint8)
    with torch.no_grad():
        for start in range(0, len(volume), 16):
            batch = torch.from_numpy(np.clip((volume[start : start + 16] + 1350) / 1500, 0, 1))[:, None]
            small = F.interpolate(batch, size=(256, 256), mode="area")
            probability = torch.sigmoid(model(small))
            full = F.interpolate(probability, size=volume.shape[1:], mode="bilinear", align_corners=False)
            mask[start : start + 16] = (full[:, 0] > 0.5).numpy()
    labels = sitk.GetImageFromArray(mask)
    labels.CopyInformation(image)
    sitk.WriteImage(labels, output, useCompression=True)


def _read_dicom(folder: str):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    return reader.Execute()


def child(tool: str, source: str, output: str, extra: str) -> None:
    """Run one tool in this process and print its wall time and peak RSS as JSON."""
    start = time.perf_counter()
    if tool == "lungseg":
        from lungseg.cli.main import app

        try:
            app(["predict", source, output], standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise
    elif tool == "lungmask":
        from lungmask.__main__ import main as lungmask_main

        sys.argv = ["lungmask", source, output, "--modelpath", extra, "--noprogress"]
        lungmask_main()
    else:
        run_monai(source, output)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mib": peak}))


def measure(tool: str, source: Path, output: Path, extra: str = "") -> dict:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, __file__, "--child", tool, str(source), str(output), extra],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"{tool} failed on {source}:\n{done.stderr[-3000:]}")
    inside = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "seconds": round(wall, 2),
        "seconds_in_process": round(inside["seconds"], 2),
        "peak_rss_mib": round(inside["peak_rss_mib"]),
    }


def make_300_slice_volume(folder: Path) -> Path:
    import SimpleITK as sitk

    image = _read_dicom(str(POPI))
    size = list(image.GetSize())
    spacing = list(image.GetSpacing())
    spacing[2] = spacing[2] * (size[2] - 1) / 299
    resampled = sitk.Resample(
        image,
        [size[0], size[1], 300],
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        spacing,
        image.GetDirection(),
        -1024,
        sitk.sitkInt16,
    )
    path = folder / "popi-300.nii.gz"
    sitk.WriteImage(resampled, str(path), useCompression=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("TOOL", "SOURCE", "OUTPUT", "EXTRA"))
    parser.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "inference.json"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    import torch

    from lungseg.io.shipped import resolve_model
    from lungseg.models import load_checkpoint, model_from_checkpoint

    peak = matmul_gflops()
    ours = model_from_checkpoint(load_checkpoint(resolve_model("ct-lung")))
    flops = {
        "lungseg": 2 * forward_gflops(ours),
        "lungmask": forward_gflops(lungmask_unet()),
        "monai": forward_gflops(monai_unet()),
    }  # lungseg runs two passes (flip TTA)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        weights = scratch / "r231_random.pth"
        torch.save(lungmask_unet().state_dict(), weights)
        studies = {"POPI DICOM (71 slices)": (POPI, 71), "512x512x300 NIfTI": (make_300_slice_volume(scratch), 300)}
        for study, (source, slices) in studies.items():
            for tool in ("lungseg", "lungmask", "monai"):
                result = measure(tool, source, scratch / f"{tool}-{slices}.nii.gz", str(weights))
                rate = slices / result["seconds"]
                achieved = flops[tool] * slices / result["seconds_in_process"]
                rows.append(
                    {
                        "study": study,
                        "tool": tool,
                        "slices": slices,
                        **result,
                        "slices_per_second": round(rate, 2),
                        "gflop_per_slice": round(flops[tool], 2),
                        "achieved_gflops": round(achieved, 1),
                        "percent_of_matmul": round(100 * achieved / peak, 1),
                    }
                )
    for row in rows:
        base = next(r for r in rows if r["study"] == row["study"] and r["tool"] == "lungmask")
        row["throughput_vs_lungmask"] = round(row["slices_per_second"] / base["slices_per_second"], 2)
    result = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "matmul_gflops": round(peak, 1),
        },
        "rows": rows,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1))
    print(f"\nmatmul float32: {peak:.1f} GFLOP/s on {os.cpu_count()} cores\n")
    print("| study | tool | s/study | slices/s | x lungmask | GFLOP/slice | GFLOP/s | % matmul | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['study']} | {r['tool']} | {r['seconds']} | {r['slices_per_second']} | {r['throughput_vs_lungmask']} "
            f"| {r['gflop_per_slice']} | {r['achieved_gflops']} | {r['percent_of_matmul']} | {r['peak_rss_mib']} |"
        )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
