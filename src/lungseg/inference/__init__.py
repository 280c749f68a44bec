"""Inference: the ``Predictor`` object, 2D prediction to files, overlays and evaluation reports."""

from lungseg.inference.evaluation import evaluate_pairs, format_summary, select_pairs
from lungseg.inference.overlay import render_overlay
from lungseg.inference.predict2d import Job, plan_jobs, predict_images
from lungseg.inference.predictor import Predictor

__all__ = ["Job", "Predictor", "evaluate_pairs", "format_summary", "plan_jobs", "predict_images",
           "render_overlay", "select_pairs"]
