"""Cancer-type classification of CT slice pictures: the ``ImageClassifier``, its evaluation and Grad-CAM."""
