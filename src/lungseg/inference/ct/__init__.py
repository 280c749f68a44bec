"""CT lung segmentation (volumes and 2D slices): the ``Segmenter``, its model set (lung model, 8-bit
variant, lesion models) and the anatomical plausibility check."""
