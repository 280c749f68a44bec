"""Typed run configuration: one dataclass per concern, read from YAML/JSON and written into every run.

Unknown keys and values of the wrong kind raise ``ValueError`` naming the key, so a typo in a config
file never silently falls back to a default.
"""

from lungseg.config.classifier import classifier_defaults
from lungseg.config.fields import setting
from lungseg.config.files import dump_config, load_config, merge_config, parse_assignment
from lungseg.config.inference import Backend, InferenceConfig
from lungseg.config.run import (
    AugmentConfig,
    DataConfig,
    Intensity,
    LossName,
    ModelConfig,
    OptimConfig,
    OptimizerName,
    PreprocessConfig,
    RunConfig,
    SchedulerName,
    TrainConfig,
)

__all__ = [
    "AugmentConfig",
    "Backend",
    "DataConfig",
    "InferenceConfig",
    "Intensity",
    "LossName",
    "ModelConfig",
    "OptimConfig",
    "OptimizerName",
    "PreprocessConfig",
    "RunConfig",
    "SchedulerName",
    "TrainConfig",
    "classifier_defaults",
    "dump_config",
    "load_config",
    "merge_config",
    "parse_assignment",
    "setting",
]
