"""Chest X-ray lung fields: the ``RadiographSegmenter``."""
