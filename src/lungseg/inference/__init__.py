"""Inference: ``Predictor`` (slices); the segmenters, each a ``core.protocol.Segmenter``: ``Segmenter``
(``CTSegmenter``: CT volumes and slices, labelled lungs, optionally lesions, measurements, checks,
quality), ``RadiographSegmenter`` (chest X-ray lung fields) and ``AutoSegmenter`` (CT or X-ray per study),
``load_segmenter(name)`` for a model name, and ``run_study``, the one pipeline the CLI, this API and the web
app call; ``ImageClassifier`` (cancer type of a CT slice picture), file outputs, ONNX export and
evaluation reports.

Names load on first use, so ``lungseg predict`` with ONNX Runtime never imports PyTorch (evaluation and
export do)."""

from importlib import import_module

_EXPORTS = {
    "AutoSegmenter": "routing.auto",
    "CTSegmenter": "ct.segmenter",
    "ImageClassifier": "classify.classifier",
    "evaluate_classifier": "classify.evaluation",
    "PostprocessOptions": "core.postprocess",
    "Predictor": "core.predictor",
    "RadiographSegmenter": "xray.film_segmenter",
    "SegmentationResult": "core.result",
    "Segmenter": "ct.segmenter",
    "StudyRun": "core.pipeline",
    "evaluate_pairs": "evaluate.pairs",
    "export_onnx": "core.backends",
    "format_summary": "evaluate.pairs",
    "load_segmenter": "routing.load",
    "make_backend": "core.backends",
    "plan_targets": "batch.targets",
    "run_study": "core.pipeline",
    "run_targets": "batch.runner",
    "select_pairs": "evaluate.pairs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lungseg.inference' has no attribute {name!r}")
    return getattr(import_module(f"lungseg.inference.{_EXPORTS[name]}"), name)
