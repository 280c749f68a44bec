"""Datasets: pairing image and mask files, splits, augmentation and in-memory slice datasets."""

from lungseg.data.augment import augment_pair, build_augmentation
from lungseg.data.dataset import LoadedPair, MaskRule, SliceDataset, load_pair, several_labels_warning
from lungseg.data.pairs import Pair, find_pairs, list_files, resolve_folders
from lungseg.data.splits import Split, group_of, make_split, parse_fractions, split_has_validation

__all__ = [
    "LoadedPair",
    "MaskRule",
    "several_labels_warning",
    "Pair",
    "SliceDataset",
    "Split",
    "augment_pair",
    "build_augmentation",
    "find_pairs",
    "group_of",
    "list_files",
    "load_pair",
    "make_split",
    "parse_fractions",
    "resolve_folders",
    "split_has_validation",
]
