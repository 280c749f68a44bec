"""lungseg: lung and lung-lesion segmentation in chest CT and X-ray with U-Net family networks.

Importing the package is cheap; heavy libraries (torch, SimpleITK, albumentations) load only in the
submodules that need them.
"""

__version__ = "0.1.0"
