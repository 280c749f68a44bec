"""Inference: ``Predictor`` (slices), ``Segmenter`` (CT volumes and slices: labelled lungs, measurements,
checks, quality), ``ImageClassifier`` (cancer type of a CT slice picture), file outputs, ONNX export and
evaluation reports.

Names load on first use, so ``lungseg predict`` with ONNX Runtime never imports PyTorch (evaluation and
export do)."""

from importlib import import_module

_EXPORTS = {
    "ImageClassifier": "classify.classifier",
    "evaluate_classifier": "classify.evaluation",
    "PostprocessOptions": "core.postprocess",
    "Predictor": "core.predictor",
    "SegmentationResult": "ct.segmenter",
    "Segmenter": "ct.segmenter",
    "evaluate_pairs": "evaluate.pairs",
    "export_onnx": "core.backends",
    "format_summary": "evaluate.pairs",
    "make_backend": "core.backends",
    "plan_targets": "batch.runner",
    "run_targets": "batch.runner",
    "select_pairs": "evaluate.pairs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lungseg.inference' has no attribute {name!r}")
    return getattr(import_module(f"lungseg.inference.{_EXPORTS[name]}"), name)
