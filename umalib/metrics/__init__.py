"""Evaluation metrics, one concern per module.

- :mod:`.classification`: ``predict``, ``accuracy`` (UA = forget-set accuracy, lower is better),
  ``residual_knowledge``;
- :mod:`.mia`: the reference confidence membership-inference attack (``MIAAttacker``, ``ua_mia``);
- :mod:`.generative`: FID (pluggable features), IS and L1 (Tables 3 and 7).
"""

from .classification import accuracy, predict, predictions, residual_knowledge
from .generative import (INCEPTION_INPUT_RANGE, classifier_features, fid, fid_from_features,
                         frechet_distance, inception_feature_fn, inception_score, l1_distance)
from .mia import MIAAttacker, mia_member_rate, true_class_confidence, ua_mia

__all__ = ["predict", "predictions", "accuracy", "residual_knowledge", "true_class_confidence", "MIAAttacker",
           "mia_member_rate", "ua_mia", "frechet_distance", "fid_from_features", "fid",
           "inception_score", "classifier_features", "inception_feature_fn",
           "INCEPTION_INPUT_RANGE", "l1_distance"]
