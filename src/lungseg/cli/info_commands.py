"""``lungseg info``: the version, the devices PyTorch sees, and the inference backends."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lungseg import __version__
from lungseg.cli.common import app, user_errors


@app.command()
@user_errors
def info(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False):
    """Print lungseg's version, PyTorch and CUDA versions, the GPUs (name, memory, bf16), what --device auto
    and --backend auto resolve to, and the ONNX Runtime version and providers."""
    from lungseg.inference.core.backends import onnx_available, prefers_torch
    from lungseg.models.device import describe_devices

    report = {"lungseg": __version__, **describe_devices()}
    report["onnxruntime"] = None
    if onnx_available():
        import onnxruntime

        report["onnxruntime"] = {"version": onnxruntime.__version__, "providers": onnxruntime.get_available_providers()}
    report["backend_auto"] = "torch" if prefers_torch("auto", "auto") else "onnx"
    if as_json:
        print(json.dumps(report, indent=1))
        return
    print(
        f"lungseg {report['lungseg']}  torch {report['torch']} (CUDA build {report['cuda_build'] or 'none'}, "
        f"cuDNN {report['cudnn'] or 'none'})"
    )
    for gpu in report["gpus"]:
        print(
            f"  cuda:{gpu['index']}  {gpu['name']}  {gpu['memory_gib']} GiB  compute {gpu['capability']}  "
            f"bf16 {'yes' if gpu['bf16'] else 'no'}"
        )
    if not report["gpus"]:
        print("  no CUDA GPU visible" + (" (mps available)" if report["mps_available"] else ""))
    runtime = report["onnxruntime"]
    print(
        f"--device auto -> {report['default_device']};  --backend auto -> {report['backend_auto']};  "
        f"CPU threads {report['cpu_threads']};  onnxruntime "
        + (f"{runtime['version']} ({', '.join(runtime['providers'])})" if runtime else "not installed")
    )
