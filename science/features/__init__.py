"""Light-curve feature library: ALeRCE's light-curve classifier features, vectorized.

Public API::

    from science.features import extract_features, Extractor
    features = extract_features(detections, non_detections, objects)

See ``science/features/README.md`` for every feature, its definition, its origin
(light-curve or hand-written) and the known differences from ALeRCE.
"""
from .extractor import (FEATURE_VERSION, EvaluationContext, Extractor, FeatureEvaluator,
                        extract_features, feature_names)
from .preprocess import LightCurveBatch, preprocess

__all__ = ["FEATURE_VERSION", "EvaluationContext", "Extractor", "FeatureEvaluator",
           "LightCurveBatch", "extract_features", "feature_names", "preprocess"]
