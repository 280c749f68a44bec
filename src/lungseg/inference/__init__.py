"""Inference: ``Predictor`` (slices), ``Segmenter`` (CT volumes and slices: labelled lungs, measurements,
checks, quality), ``ImageClassifier`` (cancer type of a CT slice picture), file outputs, ONNX export and
evaluation reports.

Names load on first use, so ``lungseg predict`` with ONNX Runtime never imports PyTorch (evaluation and
export do)."""

from importlib import import_module

_EXPORTS = {
    "ImageClassifier": "classify",
    "evaluate_classifier": "classify_evaluation",
    "PostprocessOptions": "postprocess",
    "Predictor": "predictor",
    "SegmentationResult": "segmenter",
    "Segmenter": "segmenter",
    "evaluate_pairs": "evaluation",
    "export_onnx": "backends",
    "format_summary": "evaluation",
    "make_backend": "backends",
    "plan_targets": "runner",
    "run_targets": "runner",
    "select_pairs": "evaluation",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lungseg.inference' has no attribute {name!r}")
    return getattr(import_module(f"lungseg.inference.{_EXPORTS[name]}"), name)
