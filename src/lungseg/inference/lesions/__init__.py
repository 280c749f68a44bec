"""Lesions inside the lungs: lesion models and their clean-up (``model``), the density rule for solid
lesions (``density``) and the lesion burden per class and lung (``burden``)."""
