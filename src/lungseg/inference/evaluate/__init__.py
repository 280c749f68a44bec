"""Evaluation of a segmentation model on image/mask pairs: metrics, per-class scores and report files."""
