"""Inference: ``Predictor`` (slices), ``Segmenter`` (CT volumes and slices: labelled lungs, measurements,
checks, quality), file outputs, ONNX export and evaluation reports."""

from lungseg.inference.backends import export_onnx, make_backend
from lungseg.inference.evaluation import evaluate_pairs, format_summary, select_pairs
from lungseg.inference.overlay import render_overlay
from lungseg.inference.postprocess import PostprocessOptions
from lungseg.inference.predictor import Predictor
from lungseg.inference.runner import plan_targets, run_targets
from lungseg.inference.segmenter import SegmentationResult, Segmenter

__all__ = ["PostprocessOptions", "Predictor", "SegmentationResult", "Segmenter", "evaluate_pairs", "export_onnx",
           "format_summary", "make_backend", "plan_targets", "render_overlay", "run_targets", "select_pairs"]
