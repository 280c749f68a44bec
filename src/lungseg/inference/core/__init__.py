"""What every segmenter shares: the model runner (``predictor``, ``backends``, ``ensemble``), the study
(``study``), input and result checks (``checks``), post-processing, reorientation, measurements,
quality, and the trust verdict."""
