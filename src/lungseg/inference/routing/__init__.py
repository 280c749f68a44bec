"""``--model auto``: which lung model (CT or X-ray) an input needs, and the segmenter for a model name."""
